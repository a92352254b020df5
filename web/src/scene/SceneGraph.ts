// The map as three.js objects, built for scale: the layers (layers/) draw entities as
// instanced meshes near the camera and glyphs far away (levelOfDetail.ts chooses), edges,
// traffic particles, far rings as circles of lines, halos around problems and the
// selection markers; picking.ts finds the entity under the pointer. Draw calls depend on the number of shapes
// and styles, never on the number of entities. This class holds what the layers share:
// the view, positions, colours and sizes per view node, and the level of detail; buffers
// are rewritten only when what they show changed (the layout moved, styles changed, the
// camera moved enough to move an entity between mesh and glyph).
import * as THREE from "three";
import type { Entity } from "../api/types";
import type { LayoutClient } from "../layout/client";
import type { ColourBy } from "../state/colouring";
import { costColour, costMax, useInsight } from "../state/insight";
import type { View } from "../state/view";
import { driftColour } from "./drift";
import type { Change } from "../state/compare";
import { ChangeLayer } from "./layers/ChangeLayer";
import { EdgeLayer } from "./layers/EdgeLayer";
import { HaloLayer } from "./layers/HaloLayer";
import { MarkerLayer } from "./layers/MarkerLayer";
import { NodeLayer, type Shading } from "./layers/NodeLayer";
import { ParticleLayer } from "./layers/ParticleLayer";
import { RingLayer } from "./layers/RingLayer";
import { type DetailBudget, partition } from "./levelOfDetail";
import { matchEdges, matchNodes, membersOf, namespacesOf } from "./places";
import { type LabelGroups, labelGroups } from "../state/groups";
import { SHAPES, entityColour, entitySize, kindStyle, pulses, spins } from "./mapping";

const BASE = 2.4; // world units per unit of entity size
const DIM = 0.13; // colour factor of what path tracing leaves out

export interface SceneOptions extends DetailBudget {
  /** Traffic particles at most (the busiest edges first). */
  particleBudget: number;
  /** Edges drawn per frame, in pixels of line (the shortest on screen first; the path
   * traced from the selection always): lines cost a software renderer per pixel. */
  edgePixels: number;
  /** Edges drawn per frame at most: a software renderer also pays per line, about 1.4 µs
   * each in SwiftShader (17,000 lines took 23 ms, most of a frame at 10,000 entities). */
  edgeLines: number;
  /** How meshes are lit (layers/NodeLayer.ts). */
  shading: Shading;
}

/** For a software renderer (no GPU), which pays for every triangle and pixel on the CPU. */
export const SOFTWARE_OPTIONS: SceneOptions = { meshPixels: 10, meshTriangles: 20_000, particleBudget: 4000, edgePixels: 150_000, edgeLines: 6000, shading: "lambert" };
export const GPU_OPTIONS: SceneOptions = { meshPixels: 2.5, meshTriangles: 2_000_000, particleBudget: 60000, edgePixels: Infinity, edgeLines: Infinity, shading: "standard" };

const LEVEL = { critical: 2, warning: 1 } as Record<string, number>;
const SHAPE_INDEX = new Map(SHAPES.map((shape, k) => [shape, k]));
/** While only the camera moves, budgeted edges are chosen again at most this often. */
const RECHOOSE_MS = 150;
/** Styles kept from earlier frames are all computed again at least this often. */
const RESTYLE_ALL_MS = 60_000;
/** Traffic particles are chosen again at most this long after a view update. */
const PARTICLES_MS = 500;

export class SceneGraph {
  readonly root = new THREE.Group();
  readonly base = BASE;
  view: View = { nodes: [], edges: [], shownAs: new Map(), degree: new Map() };
  /** Positions of the view's nodes (x, y, z per node), refreshed when the layout moves. */
  pos = new Float32Array(0);
  sizes = new Float32Array(0);
  index = new Map<string, number>();
  highlight: Set<string> | null = null;
  /** Compare marks by entity id (state/compare.ts), null when not comparing. */
  changes: Map<string, Change> | null = null;
  selected: string | null = null;
  hovered: string | null = null;
  // Per view node, read by the layers.
  colours = new Float32Array(0);
  /** What the colours say (state/colouring.ts); MapCanvas keeps it in step. */
  colourBy: ColourBy = "health";
  /** 1 for a view node the highlight holds (every one when there is none), DIM else. */
  dims = new Float32Array(0);
  flags = new Uint8Array(0); // 1 pulse, 2 spin
  level = new Uint8Array(0); // 2 critical, 1 warning, 0 otherwise
  near = new Uint8Array(0); // 1: drawn as a mesh
  pixels = new Float32Array(0); // on-screen radius, px
  shapeOf = new Uint8Array(0); // index into SHAPES
  ringScale = new Float32Array(0); // namespace rings' radius, 0 for other nodes
  screen = new Float32Array(0); // x, y in pixels from the centre per node; NaN behind the camera
  halfWidth = 0; // the viewport's, in the same pixels
  halfHeight = 0;
  edgeA = new Int32Array(0);
  edgeB = new Int32Array(0);
  owner = new Int32Array(0); // the view node that owns each one ("owns" edges), -1 for none
  private slot = new Int32Array(0); // view node -> layout index, -1 when not placed yet
  /** 1 for a view node with a place (the layout's, or carried over, or its owner's). */
  placed = new Uint8Array(0);
  /** View nodes with no place yet: they sit at the origin until the layout answers, and no
   * layer draws them (nor picks them, nor labels them) until then: a map drawn before its
   * places came (the layout is slow to answer: 50,000 entities) would otherwise be a pile of
   * every node at the origin, as wide as the camera near it makes them (one 14.7 s frame). */
  unplaced = 0;
  /** Whether the view is placed enough to be drawn at once: a few nodes still waiting for
   * their places (churn: newcomers without an owner in view) are left out until they have
   * one (MapCanvas waits a little for more). A share of the view, not a number: at 50,000
   * entities and 20 changes/s, more than 20 newcomers were always waiting, and the map was
   * first counted as fully drawn 10 s after it was. */
  get placedEnough(): boolean {
    return this.unplaced <= Math.max(20, this.view.nodes.length / 100);
  }
  private groups: LabelGroups | null = null;
  /** The view's namespaces by cluster and its layout groups, for the labels: once a view,
   * not at each labelling (a dozen a second: 35 ms each at 50,000 entities). */
  get labelGroups(): LabelGroups {
    return (this.groups ??= labelGroups(this.view.nodes.map((node) => node.entity)));
  }
  private nsMembers = new Map<number, number[]>(); // namespace node -> member nodes
  private nsOf: Int32Array = new Int32Array(0); // view node -> its namespace node, -1 for none
  private readonly options: SceneOptions;
  private readonly nodes: NodeLayer;
  private readonly edges: EdgeLayer;
  private readonly particles: ParticleLayer;
  private readonly rings: RingLayer;
  private readonly halos: HaloLayer;
  private readonly markers: MarkerLayer;
  private readonly changeMarks: ChangeLayer;
  // What the buffers were last written from.
  private layoutRevision = -1;
  /** The layout's alpha when the positions shown were posted (what tests wait on: the
   * client's own alpha runs a frame ahead of the positions drawn). */
  layoutAlpha = 1;
  private layoutIds: string[] | null = null;
  private viewDirty = true;
  private styleDirty = true;
  // Float64, as the matrices: a Float32 copy never equals what it copied, and every frame
  // counted as a camera move (partition, glyphs, rings and edges rewritten, and drawn).
  private readonly lastCamera = new Float64Array(33);
  private pulsingNear = false;
  private pulsingAny = false;
  private partitionedFor = "";
  private edgesChosenAt = -Infinity;
  private styledAllAt = -Infinity;
  /** When the particles, carried over a view update, are chosen again. */
  private particlesDue = Infinity;
  /** The camera moved since the edges were last chosen (a final choice is due at rest). */
  private edgesStale = false;

  constructor(options: SceneOptions = GPU_OPTIONS) {
    this.options = options;
    this.nodes = new NodeLayer(this.root, options.shading);
    this.edges = new EdgeLayer(this.root, options.edgePixels, options.edgeLines);
    this.particles = new ParticleLayer(this.root, options.particleBudget);
    this.rings = new RingLayer(this.root);
    this.halos = new HaloLayer(this.root);
    this.markers = new MarkerLayer(this.root);
    this.changeMarks = new ChangeLayer(this.root);
  }

  /** Draws the glyph atlas with the page's renderer (once, before the first frame). */
  prepare(renderer: THREE.WebGLRenderer): void {
    this.nodes.prepare(renderer);
  }

  get meshCount(): number { return this.nodes.meshCount; }
  get glyphCount(): number { return this.nodes.glyphCount; }
  get haloCount(): number { return this.halos.count; }
  get changeMarked(): { id: string; change: Change }[] { return this.changeMarks.marked; }

  /**
   * A new view (entities or edges came, went or changed): regroup instances and buffers.
   * `restyle`: the ids whose looks may have changed (GraphStore.takeRestyled) when the view
   * was updated from the graph's changes, so that the other nodes keep their style; null
   * restyles every node.
   */
  setView(view: View, removed: Entity[], layout: LayoutClient, restyle: ReadonlySet<string> | null = null): void {
    const now = performance.now();
    for (const entity of removed) {
      const i = this.index.get(entity.id);
      if (i === undefined || view.shownAs.has(entity.id)) continue;
      this.nodes.fadeOut(entity, this.sizes[i] || BASE, this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2], now);
    }
    const old = { view: this.view, pos: this.pos, placed: this.placed, shapeOf: this.shapeOf, nsOf: this.nsOf, edgeA: this.edgeA, edgeB: this.edgeB, style: { colours: this.colours, sizes: this.sizes, flags: this.flags, level: this.level } };
    const oldNodes = old.view.nodes;
    this.view = view;
    this.groups = null;
    const n = view.nodes.length;
    // What each node had is carried over from its old place (places.ts).
    const places = matchNodes(oldNodes, view.nodes, this.index);
    const { oldOf, newOf } = places;
    // What must be worked out again: new nodes, and with `restyle` those it names (else all).
    const fresh = new Uint8Array(n);
    if (restyle) {
      for (let i = 0; i < n; i++) if (oldOf[i] < 0) fresh[i] = 1;
      for (const id of restyle) {
        const i = this.index.get(id);
        if (i !== undefined) fresh[i] = 1;
      }
    } else fresh.fill(1);

    this.pos = new Float32Array(n * 3);
    this.placed = new Uint8Array(n);
    this.near = new Uint8Array(n);
    this.pixels = new Float32Array(n);
    this.shapeOf = new Uint8Array(n);
    this.ringScale = new Float32Array(n);
    this.screen = new Float32Array(n * 2);
    // Keep positions of nodes that stay; new ones start at their owner's place.
    const scratch = { x: 0, y: 0, z: 0 };
    let namespacesCame = false; // or went: members may then find another of the same name
    for (let i = 0; i < n; i++) {
      const o = oldOf[i];
      const node = view.nodes[i];
      if (o >= 0) {
        this.pos[i * 3] = old.pos[o * 3]; this.pos[i * 3 + 1] = old.pos[o * 3 + 1]; this.pos[i * 3 + 2] = old.pos[o * 3 + 2];
        this.placed[i] = old.placed[o];
      } else if (layout.read(node.id, scratch) || (node.near && layout.read(node.near, scratch))) {
        this.pos[i * 3] = scratch.x; this.pos[i * 3 + 1] = scratch.y; this.pos[i * 3 + 2] = scratch.z;
        this.placed[i] = 1;
      }
      if (fresh[i]) {
        this.shapeOf[i] = SHAPE_INDEX.get(kindStyle(node.entity.kind).shape)!;
        if (node.entity.kind === "namespace") namespacesCame = true;
      } else this.shapeOf[i] = old.shapeOf[o];
    }
    for (let o = 0; o < oldNodes.length; o++) if (newOf[o] < 0 && oldNodes[o].entity.kind === "namespace") namespacesCame = true;
    this.unplaced = countZeros(this.placed);
    this.nsOf = namespacesOf(view.nodes, places, old.nsOf, namespacesCame ? null : fresh);
    this.nsMembers = membersOf(this.nsOf);
    this.edgeA = new Int32Array(view.edges.length);
    this.edgeB = new Int32Array(view.edges.length);
    this.owner = new Int32Array(n).fill(-1);
    const edgeNewOf = matchEdges(old.view.edges, old, view.edges, newOf, this.index, this.edgeA, this.edgeB);
    view.edges.forEach((edge, e) => { if (edge.edge.kind === "owns") this.owner[this.edgeB[e]] = this.edgeA[e]; });
    this.nodes.setView(this);
    this.edges.setView(this);
    this.viewDirty = true;
    if (restyle && old.style.colours.length === oldNodes.length * 3 && this.styleCarries()) {
      // Nodes that stay keep their style; new ones and those named are styled.
      this.allocateStyle(n);
      const restyled: number[] = [];
      for (let i = 0; i < n; i++) {
        const o = oldOf[i];
        if (fresh[i]) { restyled.push(i); continue; }
        this.colours[i * 3] = old.style.colours[o * 3]; this.colours[i * 3 + 1] = old.style.colours[o * 3 + 1]; this.colours[i * 3 + 2] = old.style.colours[o * 3 + 2];
        this.sizes[i] = old.style.sizes[o];
        this.flags[i] = old.style.flags[o];
        this.level[i] = old.style.level[o];
      }
      // Particles stay on the edges that stayed; new edges get theirs with the next
      // choice, at most PARTICLES_MS later (choosing took 3 ms of each rebuild at 10,000).
      this.particles.remap(edgeNewOf);
      this.particlesDue = Math.min(this.particlesDue, now + PARTICLES_MS);
      this.restyleNodes(restyled, false);
    } else {
      this.refreshStyle();
    }
  }

  /** Whether a node's style may be kept while others change: not when it comes from
   * elsewhere (aggregates sum their members; cost and waste the insight's figures), nor
   * after a minute (a configmap's colour ages). */
  private styleCarries(): boolean {
    return this.colourBy !== "cost" && this.colourBy !== "waste"
      && performance.now() - this.styledAllAt < RESTYLE_ALL_MS
      && !this.view.nodes.some((node) => node.members);
  }

  private allocateStyle(n: number): void {
    this.colours = new Float32Array(n * 3);
    this.sizes = new Float32Array(n);
    this.flags = new Uint8Array(n);
    this.level = new Uint8Array(n);
  }

  /** Colour, size, flags and health level of view node `i` from its entity's fields. */
  private styleNode(i: number, now: number, top: number, costs: ReturnType<typeof useInsight.getState>["costs"]): void {
    const node = this.view.nodes[i];
    const e = node.entity;
    const by = this.colourBy;
    const c = by === "health" ? entityColour(e, now)
      : by === "drift" ? driftColour(e) : costColour(costs[e.id]?.[by], top);
    this.colours[i * 3] = c[0]; this.colours[i * 3 + 1] = c[1]; this.colours[i * 3 + 2] = c[2];
    let size = BASE * entitySize(e, this.view.degree.get(node.id) ?? 0);
    if (node.members) size *= 1.2 + Math.log10(node.members.length) * 0.5;
    this.sizes[i] = size;
    this.flags[i] = (pulses(e) ? 1 : 0) | (spins(e) ? 2 : 0);
    this.level[i] = e.stale || e.kind === "namespace" ? 0 : LEVEL[e.health_status ?? ""] ?? 0;
  }

  /** Styles the nodes `indices` (all of them: null), then what depends on every style. */
  private restyleNodes(indices: readonly number[] | null, rebuildParticles: boolean): void {
    const now = Date.now() / 1000;
    const { costs } = useInsight.getState();
    const by = this.colourBy;
    const top = by === "cost" || by === "waste" ? costMax(costs, by) : 0;
    if (indices === null) {
      for (let i = 0; i < this.view.nodes.length; i++) this.styleNode(i, now, top, costs);
      this.styledAllAt = performance.now();
    } else {
      for (const i of indices) this.styleNode(i, now, top, costs);
    }
    this.pulsingAny = this.flags.some((f) => (f & 1) !== 0);
    this.applyHighlight();
    if (rebuildParticles || !this.particles.any) {
      this.particles.rebuild(this);
      this.particlesDue = Infinity;
      this.viewDirty = true; // particle ends must be written
    }
    this.styleDirty = true;
  }

  /**
   * Colours, sizes, health levels and animation flags from the entities' current fields:
   * of the entities `only` names (GraphStore.takeRestyled) where the others' style still
   * holds, else of every node.
   */
  refreshStyle(rebuildParticles = true, only: ReadonlySet<string> | null = null): void {
    const n = this.view.nodes.length;
    if (this.colours.length !== n * 3) this.allocateStyle(n);
    else if (only && this.styleCarries()) {
      const indices: number[] = [];
      for (const id of only) {
        const i = this.index.get(id);
        if (i !== undefined) indices.push(i);
      }
      this.restyleNodes(indices, rebuildParticles);
      return;
    }
    this.restyleNodes(null, rebuildParticles);
  }

  setHighlight(ids: Set<string> | null): void {
    this.highlight = ids;
    this.applyHighlight();
    this.styleDirty = true;
  }

  setChanges(changes: Map<string, Change> | null): void {
    this.changes = changes;
    this.styleDirty = true;
  }

  private applyHighlight(): void {
    const n = this.view.nodes.length;
    if (this.dims.length !== n) this.dims = new Float32Array(n);
    this.dims.fill(1);
    const highlight = this.highlight;
    if (highlight) this.view.nodes.forEach((node, i) => { if (!highlight.has(node.id)) this.dims[i] = DIM; });
  }

  /** Copies the layout's positions when they moved; false when nothing changed. */
  private readPositions(layout: LayoutClient): boolean {
    if (layout.revision === this.layoutRevision && !this.viewDirty) return false;
    this.layoutRevision = layout.revision;
    this.layoutAlpha = layout.alpha;
    const nodes = this.view.nodes;
    if (this.viewDirty || layout.ids !== this.layoutIds || this.slot.length !== nodes.length) {
      this.layoutIds = layout.ids;
      this.slot = new Int32Array(nodes.length);
      for (let i = 0; i < nodes.length; i++) this.slot[i] = layout.index.get(nodes[i].id) ?? -1;
    }
    const pos = this.pos;
    const src = layout.positions;
    for (let i = 0; i < nodes.length; i++) {
      const s = this.slot[i] * 3;
      if (s < 0 || s + 2 >= src.length) continue;
      pos[i * 3] = src[s]; pos[i * 3 + 1] = src[s + 1]; pos[i * 3 + 2] = src[s + 2];
      this.placed[i] = 1;
    }
    // Namespace rings surround their members.
    for (const [ns, all] of this.nsMembers) {
      // Around its placed members only: none placed, the ring has no place either.
      const members = this.unplaced ? all.filter((m) => this.placed[m]) : all;
      if (!members.length) continue;
      let cx = 0, cy = 0, cz = 0;
      for (const m of members) { cx += pos[m * 3]; cy += pos[m * 3 + 1]; cz += pos[m * 3 + 2]; }
      cx /= members.length; cy /= members.length; cz /= members.length;
      // The ring holds most members (the 85th percentile): strays should not inflate it.
      const radii = new Float32Array(members.length);
      // (Not Math.hypot: 30 times slower in V8, and this runs for every entity.)
      members.forEach((m, k) => { const dx = pos[m * 3] - cx, dz = pos[m * 3 + 2] - cz; radii[k] = Math.sqrt(dx * dx + dz * dz); });
      radii.sort();
      pos[ns * 3] = cx; pos[ns * 3 + 1] = cy; pos[ns * 3 + 2] = cz;
      this.placed[ns] = 1;
      this.ringScale[ns] = radii[Math.floor((radii.length - 1) * 0.85)] + 6;
    }
    if (this.unplaced) this.unplaced = countZeros(this.placed);
    return true;
  }

  /** Whether the camera (or the viewport) changed since the last call. */
  private cameraMoved(camera: THREE.Camera, projScale: number): boolean {
    const last = this.lastCamera;
    const world = camera.matrixWorld.elements;
    const proj = camera.projectionMatrix.elements;
    let moved = last[32] !== projScale;
    for (let k = 0; k < 16; k++) {
      if (last[k] !== world[k] || last[16 + k] !== proj[k]) moved = true;
      last[k] = world[k];
      last[16 + k] = proj[k];
    }
    last[32] = projScale;
    return moved;
  }

  /**
   * Per frame: positions from the layout, level of detail, animations, buffers. Returns
   * whether the next frame differs from the last one (something moved or animates), so
   * that the caller can skip drawing identical frames.
   */
  update(layout: LayoutClient, time: number, camera: THREE.Camera, cameraDistance: number, viewportHeight: number, pixelRatio = 1, edgeShare = 1): boolean {
    const projScale = (camera.projectionMatrix.elements[5] * viewportHeight) / 2;
    const moved = this.readPositions(layout);
    const viewChanged = this.viewDirty;
    const styled = this.styleDirty;
    const looked = this.cameraMoved(camera, projScale);
    this.viewDirty = this.styleDirty = false;
    const focus = `${this.selected}|${this.hovered}`;
    const refocused = focus !== this.partitionedFor;
    this.partitionedFor = focus;
    let split = false;
    if (moved || looked || styled || refocused) {
      const detail = partition(this, camera, projScale, this.options, this.nodes.triangles);
      split = detail.changed;
      this.pulsingNear = detail.pulsingNear;
    }
    if (moved || split || styled || looked) {
      this.nodes.writeGlyphs(this);
      this.rings.write(this);
    }
    if (moved || styled || viewChanged) {
      this.halos.write(this);
      this.changeMarks.write(this);
    }

    const now = performance.now();
    const fading = this.nodes.fadesRunning(now);
    if (moved || split || styled || this.pulsingNear || fading) this.nodes.writeMeshes(this, time, now);
    // Budgeted edges are chosen by their length on screen, so a camera move may change
    // them too. Their buffers hold world positions: a move alone needs no rewrite, only a
    // new choice, made at most every RECHOOSE_MS while the camera moves and once when it
    // stops (choosing and writing 20,000 edges took 7 ms of each orbiting frame).
    // A software renderer pays for every line: while a moving camera makes frames slow,
    // edges are drawn within a share of their budgets (MapCanvas: the render scale).
    let edgesChanged = moved || styled || edgeShare !== this.edges.share;
    this.edges.share = edgeShare;
    if (!edgesChanged && this.edges.budgeted && (looked || this.edgesStale)) {
      edgesChanged = !looked || now - this.edgesChosenAt >= RECHOOSE_MS;
      if (!edgesChanged) this.edgesStale = true;
    }
    if (edgesChanged) {
      this.edges.writeEdges(this);
      this.edgesChosenAt = now;
      this.edgesStale = false;
    }
    let particlesChosen = false;
    if (now >= this.particlesDue) {
      this.particles.rebuild(this);
      this.particlesDue = Infinity;
      particlesChosen = true;
    }
    if (edgesChanged || viewChanged || particlesChosen) this.particles.write(this, this.edges.shown);

    const pulsing = this.edges.frame(time);
    const flowing = this.particles.frame(time, cameraDistance);
    this.nodes.frame(time, projScale);
    this.halos.frame(projScale, pixelRatio);
    this.changeMarks.frame(projScale, pixelRatio);

    const marking = this.markers.frame(this, camera, time, projScale);

    const animating = pulsing || flowing || this.pulsingNear || fading || marking || (this.nodes.glyphsVisible && this.pulsingAny);
    return moved || looked || styled || split || edgesChanged || animating;
  }

  /** Edges within their whole budgets again at once (a picture taken while moving). */
  fullDetail(): void {
    if (this.edges.share === 1) return;
    this.edges.share = 1;
    this.edges.writeEdges(this);
    this.particles.write(this, this.edges.shown);
  }

  /** World position of a shown node (an entity id is looked up through its aggregate). */
  positionOf(id: string): THREE.Vector3 | null {
    const shown = this.view.shownAs.get(id) ?? id;
    const i = this.index.get(shown);
    return i === undefined ? null : new THREE.Vector3(this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2]);
  }

  colourOf(id: string): [number, number, number] | null {
    const i = this.index.get(this.view.shownAs.get(id) ?? id);
    return i === undefined ? null : [this.colours[i * 3], this.colours[i * 3 + 1], this.colours[i * 3 + 2]];
  }
}

function countZeros(flags: Uint8Array): number {
  let zeros = 0;
  for (let i = 0; i < flags.length; i++) if (!flags[i]) zeros++;
  return zeros;
}
