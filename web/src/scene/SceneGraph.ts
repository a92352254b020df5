// The map as three.js objects, built for scale: one InstancedMesh per shape, one
// LineSegments per edge style, one Points for all particles. Draw calls depend on the
// number of shapes and styles, never on the number of entities. Updated imperatively from
// the GraphStore and the layout once per frame; React never sees individual entities.
import * as THREE from "three";
import type { ConnectionKind, Entity } from "../api/types";
import type { LayoutClient } from "../layout/client";
import type { View } from "../state/view";
import { makeGeometry } from "./geometries";
import {
  EDGE_KINDS, EDGE_STYLES, SHAPES, type Shape, edgeRate, entityColour, entitySize, kindStyle,
  particleFlow, pulses, spins,
} from "./mapping";
import { edgeFragment, edgeVertex, particleFragment, particleVertex } from "./shaders";

const BASE = 2.4; // world units per unit of entity size
const DIM = 0.13; // colour factor of what path tracing leaves out
const FADE_MS = 700;
const MAX_PARTICLES = 80000;

interface ShapeBatch {
  mesh: THREE.InstancedMesh;
  capacity: number;
  nodes: number[]; // view node indices drawn by this mesh, in instance order
}

interface EdgeBatch {
  lines: THREE.LineSegments;
  capacity: number;
  edges: number[]; // view edge indices
}

interface Fading {
  entity: Entity;
  shape: Shape;
  x: number; y: number; z: number;
  size: number;
  start: number;
}

function nextCapacity(n: number): number {
  let c = 64;
  while (c < n) c *= 2;
  return c;
}

export class SceneGraph {
  readonly root = new THREE.Group();
  view: View = { nodes: [], edges: [], shownAs: new Map(), degree: new Map() };
  /** Positions of the view's nodes (x, y, z per node), refreshed every frame. */
  pos = new Float32Array(0);
  sizes = new Float32Array(0);
  index = new Map<string, number>();
  highlight: Set<string> | null = null;
  selected: string | null = null;
  hovered: string | null = null;
  private colours = new Float32Array(0);
  private flags = new Uint8Array(0); // 1 pulse, 2 spin
  private nsMembers = new Map<number, number[]>(); // namespace node -> member nodes
  private readonly shapes = new Map<Shape, ShapeBatch>();
  private readonly edgeBatches = new Map<ConnectionKind, EdgeBatch>();
  private readonly particles: THREE.Points;
  private particleEdges = new Int32Array(0); // edge index per particle
  private particleCount = 0;
  private fading: Fading[] = [];
  private readonly selectMarker: THREE.Mesh;
  private readonly hoverMarker: THREE.Mesh;
  private readonly edgeMaterials = new Map<ConnectionKind, THREE.ShaderMaterial>();
  private readonly particleMaterial: THREE.ShaderMaterial;

  constructor() {
    const material = new THREE.MeshStandardMaterial({ roughness: 0.42, metalness: 0.15, emissive: 0x0b1220 });
    for (const shape of SHAPES) {
      const mesh = new THREE.InstancedMesh(makeGeometry(shape), material, 64);
      mesh.count = 0;
      mesh.frustumCulled = false;
      mesh.instanceColor = new THREE.InstancedBufferAttribute(new Float32Array(64 * 3), 3);
      mesh.name = `shape:${shape}`;
      this.shapes.set(shape, { mesh, capacity: 64, nodes: [] });
      this.root.add(mesh);
    }
    for (const kind of EDGE_KINDS) {
      const style = EDGE_STYLES[kind];
      const mat = new THREE.ShaderMaterial({
        vertexShader: edgeVertex,
        fragmentShader: edgeFragment,
        transparent: true,
        depthWrite: false,
        uniforms: {
          color: { value: new THREE.Color(...style.colour) },
          opacity: { value: style.opacity },
          dashed: { value: style.dashed ? 1 : 0 },
          pulse: { value: style.pulse ? 1 : 0 },
          time: { value: 0 },
        },
      });
      this.edgeMaterials.set(kind, mat);
      const lines = new THREE.LineSegments(this.edgeGeometry(64), mat);
      lines.frustumCulled = false;
      lines.name = `edges:${kind}`;
      this.edgeBatches.set(kind, { lines, capacity: 64, edges: [] });
      this.root.add(lines);
    }
    this.particleMaterial = new THREE.ShaderMaterial({
      vertexShader: particleVertex,
      fragmentShader: particleFragment,
      transparent: true,
      depthWrite: false,
      blending: THREE.AdditiveBlending,
      uniforms: { time: { value: 0 }, maxRank: { value: 6 }, pixelScale: { value: 1 } },
    });
    this.particles = new THREE.Points(this.particleGeometry(1024), this.particleMaterial);
    this.particles.frustumCulled = false;
    this.particles.name = "particles";
    this.root.add(this.particles);

    const markerGeometry = new THREE.TorusGeometry(1, 0.06, 6, 48);
    this.selectMarker = new THREE.Mesh(markerGeometry, new THREE.MeshBasicMaterial({ color: 0xffffff, transparent: true, opacity: 0.95 }));
    this.hoverMarker = new THREE.Mesh(markerGeometry, new THREE.MeshBasicMaterial({ color: 0x9cc3ff, transparent: true, opacity: 0.6 }));
    this.selectMarker.visible = this.hoverMarker.visible = false;
    this.root.add(this.selectMarker, this.hoverMarker);
  }

  private edgeGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(capacity * 6), 3).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDist", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDim", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setDrawRange(0, 0);
    return g;
  }

  private particleGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const attr = (size: number) => new THREE.BufferAttribute(new Float32Array(capacity * size), size).setUsage(THREE.DynamicDrawUsage);
    g.setAttribute("position", attr(3));
    g.setAttribute("aEnd", attr(3));
    g.setAttribute("aPhase", attr(1));
    g.setAttribute("aSpeed", attr(1));
    g.setAttribute("aRank", attr(1));
    g.setAttribute("aDim", attr(1));
    g.setAttribute("aColor", attr(3));
    g.setDrawRange(0, 0);
    return g;
  }

  /** A new view (entities or edges came, went or changed): regroup instances and buffers. */
  setView(view: View, removed: Entity[], layout: LayoutClient): void {
    // Removed entities fade out where they were.
    const now = performance.now();
    for (const entity of removed) {
      const i = this.index.get(entity.id);
      if (i === undefined || view.shownAs.has(entity.id)) continue;
      this.fading.push({
        entity, shape: kindStyle(entity.kind).shape, size: this.sizes[i] || BASE,
        x: this.pos[i * 3], y: this.pos[i * 3 + 1], z: this.pos[i * 3 + 2], start: now,
      });
    }
    const oldIndex = this.index;
    const oldPos = this.pos;
    this.view = view;
    const n = view.nodes.length;
    this.index = new Map(view.nodes.map((node, i) => [node.id, i]));
    this.pos = new Float32Array(n * 3);
    // Keep positions of nodes that stay; new ones start at their owner's place.
    const scratch = { x: 0, y: 0, z: 0 };
    view.nodes.forEach((node, i) => {
      const old = oldIndex.get(node.id);
      if (old !== undefined) {
        this.pos.set(oldPos.subarray(old * 3, old * 3 + 3), i * 3);
      } else if (layout.read(node.id, scratch) || (node.near && layout.read(node.near, scratch))) {
        this.pos[i * 3] = scratch.x; this.pos[i * 3 + 1] = scratch.y; this.pos[i * 3 + 2] = scratch.z;
      }
    });
    for (const batch of this.shapes.values()) batch.nodes = [];
    this.nsMembers = new Map();
    const nsIndex = new Map<string, number>();
    view.nodes.forEach((node, i) => {
      this.shapes.get(kindStyle(node.entity.kind).shape)!.nodes.push(i);
      if (node.entity.kind === "namespace") nsIndex.set(node.entity.name, i);
    });
    view.nodes.forEach((node, i) => {
      const ns = node.entity.kind !== "namespace" && node.entity.namespace ? nsIndex.get(node.entity.namespace) : undefined;
      if (ns === undefined) return;
      const members = this.nsMembers.get(ns) ?? [];
      members.push(i);
      this.nsMembers.set(ns, members);
    });
    for (const batch of this.edgeBatches.values()) batch.edges = [];
    view.edges.forEach((edge, i) => this.edgeBatches.get(edge.edge.kind)?.edges.push(i));
    this.ensureCapacity();
    this.refreshStyle();
  }

  private ensureCapacity(): void {
    const fadingByShape = new Map<Shape, number>();
    for (const f of this.fading) fadingByShape.set(f.shape, (fadingByShape.get(f.shape) ?? 0) + 1);
    for (const [shape, batch] of this.shapes) {
      const need = batch.nodes.length + (fadingByShape.get(shape) ?? 0);
      if (need <= batch.capacity) continue;
      const capacity = nextCapacity(need);
      const old = batch.mesh;
      const mesh = new THREE.InstancedMesh(old.geometry, old.material, capacity);
      mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
      mesh.instanceColor = new THREE.InstancedBufferAttribute(new Float32Array(capacity * 3), 3);
      mesh.frustumCulled = false;
      mesh.name = old.name;
      this.root.remove(old);
      old.dispose();
      this.root.add(mesh);
      batch.mesh = mesh;
      batch.capacity = capacity;
    }
    for (const batch of this.edgeBatches.values()) {
      if (batch.edges.length <= batch.capacity) continue;
      batch.capacity = nextCapacity(batch.edges.length);
      batch.lines.geometry.dispose();
      batch.lines.geometry = this.edgeGeometry(batch.capacity);
    }
  }

  /** Colours, sizes and animation flags from the entities' current fields. */
  refreshStyle(): void {
    const n = this.view.nodes.length;
    if (this.colours.length !== n * 3) {
      this.colours = new Float32Array(n * 3);
      this.sizes = new Float32Array(n);
      this.flags = new Uint8Array(n);
    }
    const now = Date.now() / 1000;
    this.view.nodes.forEach((node, i) => {
      const e = node.entity;
      const c = entityColour(e, now);
      this.colours[i * 3] = c[0]; this.colours[i * 3 + 1] = c[1]; this.colours[i * 3 + 2] = c[2];
      let size = BASE * entitySize(e, this.view.degree.get(node.id) ?? 0);
      if (node.members) size *= 1.2 + Math.log10(node.members.length) * 0.5;
      this.sizes[i] = size;
      this.flags[i] = (pulses(e) ? 1 : 0) | (spins(e) ? 2 : 0);
    });
    this.rebuildParticles();
  }

  private rebuildParticles(): void {
    const list: number[] = [];
    const meta: number[] = [];
    this.view.edges.forEach((edge, i) => {
      const { count, speed } = particleFlow(edge.edge.kind, edgeRate(edge.edge.kind, edge.edge));
      for (let k = 0; k < count && list.length < MAX_PARTICLES; k++) {
        list.push(i);
        meta.push(k / count, speed, k);
      }
    });
    this.particleCount = list.length;
    this.particleEdges = Int32Array.from(list);
    let g = this.particles.geometry;
    if ((g.getAttribute("aPhase") as THREE.BufferAttribute).count < list.length) {
      g.dispose();
      g = this.particles.geometry = this.particleGeometry(nextCapacity(list.length));
    }
    const phase = g.getAttribute("aPhase") as THREE.BufferAttribute;
    const speed = g.getAttribute("aSpeed") as THREE.BufferAttribute;
    const rank = g.getAttribute("aRank") as THREE.BufferAttribute;
    const colour = g.getAttribute("aColor") as THREE.BufferAttribute;
    for (let p = 0; p < list.length; p++) {
      const edge = this.view.edges[list[p]];
      // Spread phases per edge so that particles of neighbouring edges do not march in step.
      const jitter = (edge.id.length * 0.137) % 1;
      phase.array[p] = (meta[p * 3] + jitter) % 1;
      // Fast edges (speed in edge lengths/s) must not blur: shorter edges need no change.
      speed.array[p] = meta[p * 3 + 1];
      rank.array[p] = meta[p * 3 + 2];
      const c = EDGE_STYLES[edge.edge.kind].colour;
      const err = Math.min(1, edge.edge.error_rate ?? 0);
      colour.array[p * 3] = c[0] + (0.95 - c[0]) * err;
      colour.array[p * 3 + 1] = c[1] * (1 - err) + 0.3 * err;
      colour.array[p * 3 + 2] = c[2] * (1 - err) + 0.3 * err;
    }
    for (const a of [phase, speed, rank, colour]) a.needsUpdate = true;
    g.setDrawRange(0, list.length);
  }

  setHighlight(ids: Set<string> | null): void {
    this.highlight = ids;
  }

  /** Per frame: positions from the layout, animations, buffers. */
  update(layout: LayoutClient, time: number, camera: THREE.Camera, cameraDistance: number): void {
    const { nodes, edges } = this.view;
    const scratch = { x: 0, y: 0, z: 0 };
    const pos = this.pos;
    for (let i = 0; i < nodes.length; i++) {
      if (layout.read(nodes[i].id, scratch)) {
        pos[i * 3] = scratch.x; pos[i * 3 + 1] = scratch.y; pos[i * 3 + 2] = scratch.z;
      }
    }
    // Namespace rings surround their members.
    const ringScale = new Map<number, number>();
    for (const [ns, members] of this.nsMembers) {
      let cx = 0, cy = 0, cz = 0;
      for (const m of members) { cx += pos[m * 3]; cy += pos[m * 3 + 1]; cz += pos[m * 3 + 2]; }
      cx /= members.length; cy /= members.length; cz /= members.length;
      // The ring holds most members (the 85th percentile): strays should not inflate it.
      const radii = members.map((m) => Math.hypot(pos[m * 3] - cx, pos[m * 3 + 2] - cz)).sort((a, b) => a - b);
      pos[ns * 3] = cx; pos[ns * 3 + 1] = cy; pos[ns * 3 + 2] = cz;
      ringScale.set(ns, radii[Math.floor((radii.length - 1) * 0.85)] + 6);
    }
    const highlight = this.highlight;
    const dims = new Float32Array(nodes.length).fill(1);
    if (highlight) nodes.forEach((node, i) => { if (!highlight.has(node.id)) dims[i] = DIM; });

    const fadeNow = performance.now();
    this.fading = this.fading.filter((f) => fadeNow - f.start < FADE_MS);
    this.ensureCapacity();
    for (const [shape, batch] of this.shapes) {
      const m = batch.mesh.instanceMatrix.array as Float32Array;
      const c = batch.mesh.instanceColor!.array as Float32Array;
      let k = 0;
      for (const i of batch.nodes) {
        const ring = ringScale.get(i);
        let s = ring ?? this.sizes[i];
        let angle = 0;
        const flags = this.flags[i];
        if (flags & 1) s *= 1 + 0.18 * Math.sin(time * 5 + i);
        if (flags & 2) angle = time * 1.5;
        // Rings grow wide, not thick: y keeps the entity scale.
        writeMatrix(m, k, pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2], s, angle, ring !== undefined ? BASE : s);
        const d = dims[i];
        c[k * 3] = this.colours[i * 3] * d; c[k * 3 + 1] = this.colours[i * 3 + 1] * d; c[k * 3 + 2] = this.colours[i * 3 + 2] * d;
        k++;
      }
      for (const f of this.fading) {
        if (f.shape !== shape) continue;
        const t = (fadeNow - f.start) / FADE_MS;
        writeMatrix(m, k, f.x, f.y, f.z, f.size * (1 - t), 0);
        c[k * 3] = c[k * 3 + 1] = c[k * 3 + 2] = 0.5 * (1 - t);
        k++;
      }
      batch.mesh.count = k;
      batch.mesh.visible = k > 0;
      batch.mesh.instanceMatrix.needsUpdate = true;
      batch.mesh.instanceColor!.needsUpdate = true;
    }

    for (const [kind, batch] of this.edgeBatches) {
      const g = batch.lines.geometry;
      const p = g.getAttribute("position").array as Float32Array;
      const dist = g.getAttribute("aDist").array as Float32Array;
      const dim = g.getAttribute("aDim").array as Float32Array;
      let k = 0;
      for (const e of batch.edges) {
        const a = this.index.get(edges[e].source)!;
        const b = this.index.get(edges[e].target)!;
        p[k * 6] = pos[a * 3]; p[k * 6 + 1] = pos[a * 3 + 1]; p[k * 6 + 2] = pos[a * 3 + 2];
        p[k * 6 + 3] = pos[b * 3]; p[k * 6 + 4] = pos[b * 3 + 1]; p[k * 6 + 5] = pos[b * 3 + 2];
        dist[k * 2] = 0;
        dist[k * 2 + 1] = Math.hypot(p[k * 6 + 3] - p[k * 6], p[k * 6 + 4] - p[k * 6 + 1], p[k * 6 + 5] - p[k * 6 + 2]);
        const d = highlight ? (highlight.has(edges[e].source) && highlight.has(edges[e].target) ? 1.6 : 0.25) : 1;
        dim[k * 2] = dim[k * 2 + 1] = d;
        k++;
      }
      g.setDrawRange(0, k * 2);
      batch.lines.visible = k > 0;
      for (const name of ["position", "aDist", "aDim"]) (g.getAttribute(name) as THREE.BufferAttribute).needsUpdate = true;
      this.edgeMaterials.get(kind)!.uniforms.time.value = time;
    }

    const g = this.particles.geometry;
    const start = g.getAttribute("position").array as Float32Array;
    const end = g.getAttribute("aEnd").array as Float32Array;
    const pdim = g.getAttribute("aDim").array as Float32Array;
    for (let q = 0; q < this.particleCount; q++) {
      const edge = edges[this.particleEdges[q]];
      const a = this.index.get(edge.source)!;
      const b = this.index.get(edge.target)!;
      start[q * 3] = pos[a * 3]; start[q * 3 + 1] = pos[a * 3 + 1]; start[q * 3 + 2] = pos[a * 3 + 2];
      end[q * 3] = pos[b * 3]; end[q * 3 + 1] = pos[b * 3 + 1]; end[q * 3 + 2] = pos[b * 3 + 2];
      pdim[q] = highlight ? (highlight.has(edge.source) && highlight.has(edge.target) ? 1 : 0.08) : 1;
    }
    for (const name of ["position", "aEnd", "aDim"]) (g.getAttribute(name) as THREE.BufferAttribute).needsUpdate = true;
    this.particles.visible = this.particleCount > 0;
    this.particleMaterial.uniforms.time.value = time;
    // Level of detail: fewer particles per edge as the camera backs away.
    this.particleMaterial.uniforms.maxRank.value =
      cameraDistance < 250 ? 6 : cameraDistance < 600 ? 3 : cameraDistance < 1400 ? 1 : 0;

    this.placeMarker(this.selectMarker, this.selected, camera, time, 1.9);
    this.placeMarker(this.hoverMarker, this.hovered !== this.selected ? this.hovered : null, camera, time, 1.6);
  }

  private placeMarker(marker: THREE.Mesh, id: string | null, camera: THREE.Camera, time: number, factor: number): void {
    const i = id ? this.index.get(id) : undefined;
    marker.visible = i !== undefined;
    if (i === undefined) return;
    marker.position.set(this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2]);
    marker.quaternion.copy(camera.quaternion);
    marker.scale.setScalar(this.sizes[i] * factor * (1 + 0.06 * Math.sin(time * 4)));
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

  /** Bounding radius of everything shown, around its centre. */
  bounds(): { centre: THREE.Vector3; radius: number } {
    const n = this.view.nodes.length;
    const centre = new THREE.Vector3();
    if (!n) return { centre, radius: 50 };
    for (let i = 0; i < n; i++) centre.add(new THREE.Vector3(this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2]));
    centre.divideScalar(n);
    let r2: number[] = [];
    for (let i = 0; i < n; i++) {
      r2.push((this.pos[i * 3] - centre.x) ** 2 + (this.pos[i * 3 + 1] - centre.y) ** 2 + (this.pos[i * 3 + 2] - centre.z) ** 2);
    }
    // The 95th percentile: one far-flung node should not zoom the whole map out.
    r2 = r2.sort((a, b) => a - b);
    return { centre, radius: Math.max(20, Math.sqrt(r2[Math.floor((n - 1) * 0.95)]) + 10) };
  }

  /** The shown node nearest to a screen point, within `radius` pixels of its edge. */
  pick(x: number, y: number, width: number, height: number, camera: THREE.Camera, radius = 10): string | null {
    const v = new THREE.Vector3();
    let best: string | null = null;
    let bestD = Infinity;
    const camPos = camera.getWorldPosition(new THREE.Vector3());
    const proj = (camera as THREE.PerspectiveCamera).projectionMatrix.elements[5] * height / 2;
    for (let i = 0; i < this.view.nodes.length; i++) {
      if (this.view.nodes[i].entity.kind === "namespace") continue;
      v.set(this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2]);
      const dist = v.distanceTo(camPos);
      v.project(camera);
      if (v.z > 1 || v.z < -1) continue;
      const sx = (v.x + 1) / 2 * width;
      const sy = (1 - v.y) / 2 * height;
      const pixelSize = (this.sizes[i] * proj) / Math.max(dist, 1e-3);
      const d = Math.hypot(sx - x, sy - y) - pixelSize;
      if (d < radius && d + dist * 1e-4 < bestD) {
        bestD = d + dist * 1e-4;
        best = this.view.nodes[i].id;
      }
    }
    return best;
  }
}

/** Translation * rotation about y * uniform scale, written straight into a matrix array. */
function writeMatrix(m: Float32Array, k: number, x: number, y: number, z: number, s: number, angle: number, sy = s): void {
  const c = Math.cos(angle) * s;
  const n = Math.sin(angle) * s;
  const o = k * 16;
  m[o] = c; m[o + 1] = 0; m[o + 2] = -n; m[o + 3] = 0;
  m[o + 4] = 0; m[o + 5] = sy; m[o + 6] = 0; m[o + 7] = 0;
  m[o + 8] = n; m[o + 9] = 0; m[o + 10] = c; m[o + 11] = 0;
  m[o + 12] = x; m[o + 13] = y; m[o + 14] = z; m[o + 15] = 1;
}
