// The camera's moves: frame the whole map (and keep framing it while the layout settles,
// until the user takes the camera), fly to a selection with its neighbours in view, and
// come back. Every framing leaves out the panels over the canvas (their elements carry
// `data-obstacle`), so nothing framed hides behind one.
import * as THREE from "three";
import type { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { type Lens, type Pose, type Rect, fitPoints, freeRect, inset } from "./framing";
import type { SceneGraph } from "./SceneGraph";

const PAD = 28; // px kept clear around what is framed (entities have a size, labels a height)
const REFIT_MS = 300; // while following the layout
const EASE_MS = 450;
const FLY_MS = 900;

/** The canvas part no panel covers, in canvas pixels. */
export function readFreeRect(canvas: HTMLElement): Rect {
  const box = canvas.getBoundingClientRect();
  const obstacles: Rect[] = [];
  for (const el of document.querySelectorAll<HTMLElement>("[data-obstacle]")) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    obstacles.push({ left: r.left - box.left, top: r.top - box.top, right: r.right - box.left, bottom: r.bottom - box.top });
  }
  return inset(freeRect({ left: 0, top: 0, right: box.width, bottom: box.height }, obstacles), PAD);
}

interface Flight { from: Pose; to: Pose; start: number; duration: number }

export type CameraMode = "auto" | "flying" | "free";

export class CameraDirector {
  /** auto: frames the whole map and follows it; flying: on its way to a pose; free: the user's. */
  mode: CameraMode = "auto";
  private flight: Flight | null = null;
  private lastFit = -Infinity;
  private fittedFor = "";
  /** How many placed nodes the last fit framed. */
  private fittedPlaced = 0;
  /** Re-aims a flight as it goes (the panels may still be opening). */
  private retarget: (() => Pose | null) | null = null;
  private lastRetarget = 0;
  /** After a flight, until the user takes the camera: re-aim if the layout, still moving,
   * puts something between the camera and the selection. */
  private watch: { aim: () => Pose | null; blocked: () => boolean } | null = null;
  private framed = false;
  /** The direction framing looks along in this auto session. */
  private direction: THREE.Vector3 | null = null;

  constructor(private readonly camera: THREE.PerspectiveCamera, private readonly controls: OrbitControls) {}

  /** Whether the camera is on its way somewhere (a fit or a flight). */
  get moving(): boolean {
    return this.flight !== null;
  }

  /** The user dragged, zoomed or rotated: the camera is theirs until they ask again. */
  release(): void {
    this.mode = "free";
    this.flight = null;
    this.retarget = null;
    this.watch = null;
  }

  /**
   * Frame the whole map now, then keep it framed as the layout moves; looking along
   * `direction` (camera to scene), or the way the camera looks now.
   */
  fitAll(direction?: THREE.Vector3): void {
    this.direction = (direction ?? this.controls.target.clone().sub(this.camera.position)).clone().normalize();
    this.mode = "auto";
    this.lastFit = -Infinity;
    this.fittedFor = "";
    this.fittedPlaced = 0;
    this.retarget = null;
    this.watch = null;
  }

  /** Fly to the pose `aim` gives (asked again during the flight, and afterwards whenever
   * `blocked` says the selection is hidden). */
  flyTo(now: number, aim: () => Pose | null, blocked: () => boolean = () => false): void {
    const to = aim();
    if (!to) return;
    this.mode = "flying";
    this.retarget = aim;
    this.watch = { aim, blocked };
    this.lastRetarget = now;
    this.flight = { from: this.pose(), to, start: now, duration: FLY_MS };
  }

  private pose(): Pose {
    return { position: this.camera.position.clone(), target: this.controls.target.clone() };
  }

  /** The pose that frames every shown entity, looking the way the camera looks now. */
  fitPose(sg: SceneGraph, free: Rect, size: { width: number; height: number }): Pose | null {
    const forward = this.direction?.clone() ?? this.controls.target.clone().sub(this.camera.position);
    if (forward.lengthSq() < 1e-9) forward.set(0, -140, -360);
    const lens: Lens = { fovY: (this.camera.fov * Math.PI) / 180, width: size.width, height: size.height };
    // Namespaces are rings around their members (framed with them); an empty one floats
    // wherever the layout pushed it and would only shrink the map.
    // Nodes the layout has not placed yet sit at the origin: framed, they would pull the
    // camera in to where a whole new map is one pile.
    const points = new Float32Array(sg.pos.length);
    let k = 0;
    for (const namespaces of [false, true]) {
      for (let i = 0; i < sg.view.nodes.length; i++) {
        if (!sg.placed[i] || (sg.view.nodes[i].entity.kind === "namespace") !== namespaces) continue;
        points[k++] = sg.pos[i * 3]; points[k++] = sg.pos[i * 3 + 1]; points[k++] = sg.pos[i * 3 + 2];
      }
      if (k) break;
    }
    return k ? fitPoints(points.subarray(0, k), forward, this.camera.up, lens, free, 60) : null;
  }

  /**
   * Per frame. In auto mode the fit is recomputed every few hundred ms while something
   * changes (the layout, the view, the canvas) and the camera eases there; a flight moves
   * along its curve. Returns whether the camera moved.
   */
  update(now: number, sg: SceneGraph, key: string, canvas: HTMLElement, size: { width: number; height: number }): boolean {
    // A map that grew manyfold since the last fit (the first snapshot's parts coming in) is
    // framed at once, with a jump: eased from a pose that framed a few entities, 10,000
    // would be drawn from close up (each frame seconds of software rendering).
    const placed = sg.view.nodes.length - sg.unplaced;
    const grew = placed > 2 * this.fittedPlaced + 10;
    if (this.mode === "auto" && (grew || now - this.lastFit >= REFIT_MS) && key !== this.fittedFor) {
      const goal = sg.view.nodes.length ? this.fitPose(sg, readFreeRect(canvas), size) : null;
      // Nothing placed yet: fit as soon as something is, not a refit period later.
      if (goal || !sg.view.nodes.length) {
        this.lastFit = now;
        this.fittedFor = key;
        this.fittedPlaced = placed;
      }
      if (goal && this.differs(goal)) {
        // The first framing jumps (there was nothing to see before), later ones ease.
        this.flight = { from: this.pose(), to: goal, start: now, duration: this.framed && !grew ? EASE_MS : 0 };
        this.framed = true;
      }
    }
    if (this.mode === "flying" && this.retarget && now - this.lastRetarget > 150 && this.flight) {
      this.lastRetarget = now;
      const to = this.retarget();
      if (to) this.flight.to = to;
    }
    if (this.mode === "free" && this.watch && !this.flight && now - this.lastRetarget > 400) {
      this.lastRetarget = now;
      const to = this.watch.blocked() ? this.watch.aim() : null;
      if (to && this.differs(to)) this.flight = { from: this.pose(), to, start: now, duration: EASE_MS };
    }
    if (!this.flight) return false;
    const { from, to, start, duration } = this.flight;
    const t = duration ? Math.min(1, (now - start) / duration) : 1;
    const e = t < 0.5 ? 4 * t * t * t : 1 - (-2 * t + 2) ** 3 / 2;
    this.controls.target.lerpVectors(from.target, to.target, e);
    this.camera.position.lerpVectors(from.position, to.position, e);
    if (t >= 1) {
      this.flight = null;
      if (this.mode === "flying") {
        this.mode = "free";
        this.retarget = null;
      }
    }
    return true;
  }

  /** Whether a goal is worth moving to: more than 1% of the viewing distance away. */
  private differs(goal: Pose): boolean {
    const distance = this.camera.position.distanceTo(this.controls.target) || 1;
    return goal.position.distanceTo(this.camera.position) > distance * 0.01 || goal.target.distanceTo(this.controls.target) > distance * 0.01;
  }
}

/**
 * Where to look at one node: its neighbours in view, the node itself no larger than a
 * thumb, and nothing between the camera and it. Directions are tried around the current
 * one (turning about the vertical, then from above) until one sees the node unblocked.
 */
export function aimAt(
  sg: SceneGraph, i: number, camera: THREE.PerspectiveCamera, target: THREE.Vector3, free: Rect, size: { width: number; height: number },
): Pose | null {
  const p = new THREE.Vector3(sg.pos[i * 3], sg.pos[i * 3 + 1], sg.pos[i * 3 + 2]);
  const id = sg.view.nodes[i].id;
  const around: { j: number; d: number }[] = [];
  for (let e = 0; e < sg.view.edges.length; e++) {
    const edge = sg.view.edges[e];
    const j = edge.source === id ? sg.edgeB[e] : edge.target === id ? sg.edgeA[e] : -1;
    if (j < 0 || j === i) continue;
    around.push({ j, d: Math.hypot(sg.pos[j * 3] - p.x, sg.pos[j * 3 + 1] - p.y, sg.pos[j * 3 + 2] - p.z) });
  }
  // The nearest neighbours (a far-flung one would shrink the selection to a dot).
  around.sort((x, y) => x.d - y.d);
  const keep = around.slice(0, Math.max(6, Math.ceil(around.length * 0.8))).slice(0, 40);
  const points = [p.x, p.y, p.z];
  for (const { j } of keep) points.push(sg.pos[j * 3], sg.pos[j * 3 + 1], sg.pos[j * 3 + 2]);
  const lens: Lens = { fovY: (camera.fov * Math.PI) / 180, width: size.width, height: size.height };
  // Not nearer than where the node is ~28 px across, nor farther than where it is ~6 px.
  const projScale = size.height / (2 * Math.tan(lens.fovY / 2));
  const nearest = (sg.sizes[i] * projScale) / 14;
  const farthest = (sg.sizes[i] * projScale) / 3;
  const current = target.clone().sub(camera.position).normalize();
  const candidates: THREE.Vector3[] = [];
  const yAxis = new THREE.Vector3(0, 1, 0);
  for (const turn of [0, 35, -35, 70, -70, 120, -120, 180]) {
    candidates.push(current.clone().applyAxisAngle(yAxis, (turn * Math.PI) / 180));
  }
  const flat = new THREE.Vector3(current.x, 0, current.z).normalize();
  candidates.push(flat.clone().multiplyScalar(0.5).add(new THREE.Vector3(0, -0.85, 0)).normalize());
  let best: { pose: Pose; blocked: number } | null = null;
  for (const forward of candidates) {
    let pose = fitPoints(points, forward, yAxis, lens, free, nearest);
    if (!pose) continue;
    const depth = pose.position.distanceTo(p);
    if (depth > farthest) {
      // Too far to see the node: closer, centred on it, neighbours partly out of view.
      pose = fitPoints([p.x, p.y, p.z], forward, yAxis, lens, free, farthest);
      if (!pose) continue;
    }
    const blocked = occluders(sg, i, pose.position);
    if (!best || blocked < best.blocked) best = { pose, blocked };
    if (blocked === 0) break;
  }
  if (!best) return null;
  // The camera orbits a point on its axis (OrbitControls looks at its target): the one at
  // the selection's depth, so that the selection stays where the framing put it (clear of
  // the panels), not at the canvas's centre.
  const { position } = best.pose;
  const axis = best.pose.target.clone().sub(position).normalize();
  return { position, target: position.clone().addScaledVector(axis, p.clone().sub(position).dot(axis)) };
}

/** How many nodes lie on the line of sight from `eye` to node `i`, in front of it. */
export function occluders(sg: SceneGraph, i: number, eye: THREE.Vector3): number {
  const tx = sg.pos[i * 3], ty = sg.pos[i * 3 + 1], tz = sg.pos[i * 3 + 2];
  const dx = tx - eye.x, dy = ty - eye.y, dz = tz - eye.z;
  const len2 = dx * dx + dy * dy + dz * dz;
  let count = 0;
  for (let j = 0; j < sg.view.nodes.length; j++) {
    if (j === i || sg.ringScale[j]) continue;
    const px = sg.pos[j * 3] - eye.x, py = sg.pos[j * 3 + 1] - eye.y, pz = sg.pos[j * 3 + 2] - eye.z;
    const t = (px * dx + py * dy + pz * dz) / len2;
    if (t <= 0 || t >= 1) continue;
    const qx = px - t * dx, qy = py - t * dy, qz = pz - t * dz;
    // Blocking: its body covers the centre of the node's, as seen from the eye.
    const reach = sg.sizes[j] * 1.1 + sg.sizes[i] * 0.5 * t;
    if (qx * qx + qy * qy + qz * qz < reach * reach) count++;
  }
  return count;
}
