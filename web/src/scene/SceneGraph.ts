// The map as three.js objects, built for scale: one InstancedMesh per shape for entities
// near the camera, one Points for all the others (each drawn as its shape's picture, see
// glyphs.ts), one LineSegments per edge style and one Points for all particles. Draw calls
// depend on the number of shapes and styles, never on the number of entities. Buffers are
// rewritten only when what they show changed (the layout moved, styles changed, the camera
// moved enough to move an entity between mesh and glyph), and uploaded only in the range used.
import * as THREE from "three";
import type { ConnectionKind, Entity } from "../api/types";
import type { LayoutClient } from "../layout/client";
import type { View } from "../state/view";
import { makeGeometry } from "./geometries";
import { type GlyphAtlas, glyphFragment, glyphVertex, renderGlyphAtlas } from "./glyphs";
import {
  EDGE_KINDS, EDGE_STYLES, SHAPES, type Shape, edgeRate, entityColour, entitySize, kindStyle,
  particleFlow, pulses, spins,
} from "./mapping";
import { edgeFragment, edgeVertex, particleFragment, particleVertex } from "./shaders";

const BASE = 2.4; // world units per unit of entity size
const DIM = 0.13; // colour factor of what path tracing leaves out
const FADE_MS = 700;
const RING: Shape = "torus"; // namespace rings: meshes, or far away circles of lines
const RING_SIDES = 48;
const RING_TUBE = 0.012; // the ring geometry's tube radius (geometries.ts)

export interface SceneOptions {
  /** Entities at least this many pixels in radius are drawn as meshes... */
  meshPixels: number;
  /** ...at most this many triangles of them (the largest on screen first); the rest as glyphs. */
  meshTriangles: number;
  /** Traffic particles at most (the busiest edges first). */
  particleBudget: number;
  /** Edges drawn per frame, in pixels of line (the shortest on screen first; the path
   * traced from the selection always): lines cost a software renderer per pixel. */
  edgePixels: number;
}

/** For a software renderer (no GPU), which pays for every triangle and pixel on the CPU. */
export const SOFTWARE_OPTIONS: SceneOptions = { meshPixels: 10, meshTriangles: 20_000, particleBudget: 4000, edgePixels: 150_000 };
export const GPU_OPTIONS: SceneOptions = { meshPixels: 2.5, meshTriangles: 2_000_000, particleBudget: 60000, edgePixels: Infinity };

interface ShapeBatch {
  mesh: THREE.InstancedMesh;
  capacity: number;
  nodes: number[]; // view node indices of this shape
}

interface EdgeBatch {
  lines: THREE.LineSegments;
  capacity: number;
  edges: number[]; // view edge indices
}

interface Fading {
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

function upload(attribute: THREE.BufferAttribute | THREE.InstancedBufferAttribute, items: number): void {
  attribute.clearUpdateRanges();
  attribute.addUpdateRange(0, Math.max(1, items) * attribute.itemSize);
  attribute.needsUpdate = true;
}

export class SceneGraph {
  readonly root = new THREE.Group();
  view: View = { nodes: [], edges: [], shownAs: new Map(), degree: new Map() };
  /** Positions of the view's nodes (x, y, z per node), refreshed when the layout moves. */
  pos = new Float32Array(0);
  sizes = new Float32Array(0);
  index = new Map<string, number>();
  highlight: Set<string> | null = null;
  selected: string | null = null;
  hovered: string | null = null;
  /** Entities drawn as meshes / as glyphs in the last update (for tests and benchmarks). */
  meshCount = 0;
  glyphCount = 0;
  private colours = new Float32Array(0);
  private dims = new Float32Array(0);
  private flags = new Uint8Array(0); // 1 pulse, 2 spin
  private near = new Uint8Array(0); // 1: drawn as a mesh
  private pixels = new Float32Array(0); // on-screen radius, px
  private shapeOf = new Uint8Array(0); // index into SHAPES
  private slot = new Int32Array(0); // view node -> layout index, -1 when not placed yet
  private ringScale = new Float32Array(0); // namespace rings' radius, 0 for other nodes
  private edgeA = new Int32Array(0);
  private edgeB = new Int32Array(0);
  private screen = new Float32Array(0); // x, y in pixels from the centre per node; NaN behind the camera
  private halfWidth = 0; // the viewport's, in the same pixels
  private halfHeight = 0;
  private edgeLength = new Float32Array(0); // on screen, px
  private edgeShown = new Uint8Array(0);
  private nsMembers = new Map<number, number[]>(); // namespace node -> member nodes
  private readonly options: SceneOptions;
  private readonly material: THREE.MeshStandardMaterial;
  private readonly shapes = new Map<Shape, ShapeBatch>();
  private readonly triangles: number[]; // per shape (index into SHAPES)
  private readonly edgeBatches = new Map<ConnectionKind, EdgeBatch>();
  private readonly glyphs: THREE.Points;
  private readonly glyphMaterial: THREE.ShaderMaterial;
  private atlas: GlyphAtlas | null = null;
  private readonly particles: THREE.Points;
  private readonly ringLines: THREE.LineSegments;
  private particleEdges = new Int32Array(0); // edge index per particle
  private particleCount = 0;
  private fading: Fading[] = [];
  private readonly selectMarker: THREE.Mesh;
  private readonly hoverMarker: THREE.Mesh;
  private readonly edgeMaterials = new Map<ConnectionKind, THREE.ShaderMaterial>();
  private readonly particleMaterial: THREE.ShaderMaterial;
  // What the buffers were last written from.
  private layoutRevision = -1;
  private layoutIds: string[] | null = null;
  private viewDirty = true;
  private styleDirty = true;
  private readonly lastCamera = new Float32Array(33);
  private pulsingNear = false;
  private pulsingAny = false;
  private partitionedFor = "";

  constructor(options: SceneOptions = GPU_OPTIONS) {
    this.options = options;
    this.material = new THREE.MeshStandardMaterial({ roughness: 0.42, metalness: 0.15, emissive: 0x0b1220 });
    this.triangles = [];
    for (const shape of SHAPES) {
      const geometry = makeGeometry(shape);
      this.triangles.push((geometry.index?.count ?? geometry.getAttribute("position").count) / 3);
      const mesh = this.instancedMesh(geometry, 64, `shape:${shape}`);
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
    this.glyphMaterial = new THREE.ShaderMaterial({
      vertexShader: glyphVertex,
      fragmentShader: glyphFragment,
      fog: true,
      uniforms: THREE.UniformsUtils.merge([THREE.UniformsLib.fog, {
        atlas: { value: null }, grid: { value: new THREE.Vector2(1, 1) }, dotLight: { value: new THREE.Color(1, 1, 1) },
        dotCell: { value: 0 },
        projScale: { value: 1 }, time: { value: 0 },
      }]),
    });
    this.glyphs = new THREE.Points(this.glyphGeometry(64), this.glyphMaterial);
    this.glyphs.frustumCulled = false;
    this.glyphs.name = "glyphs";
    this.glyphs.visible = false;
    this.root.add(this.glyphs);
    // A torus only a pixel thick costs a software renderer as much as hundreds of glyphs,
    // and looks like a circle: far rings are drawn as one.
    this.ringLines = new THREE.LineSegments(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ vertexColors: true }));
    this.ringLines.frustumCulled = false;
    this.ringLines.name = "rings";
    this.root.add(this.ringLines);
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

  /** Draws the glyph atlas with the page's renderer (once, before the first frame). */
  prepare(renderer: THREE.WebGLRenderer): void {
    if (this.atlas) return;
    this.atlas = renderGlyphAtlas(renderer, SHAPES.filter((s) => s !== RING), this.material);
    const u = this.glyphMaterial.uniforms;
    u.atlas.value = this.atlas.texture;
    u.grid.value.set(this.atlas.columns, this.atlas.rows);
    u.dotLight.value = this.atlas.dotLight;
    u.dotCell.value = this.atlas.cells.get("sphere") ?? 0;
  }

  private instancedMesh(geometry: THREE.BufferGeometry, capacity: number, name: string): THREE.InstancedMesh {
    const mesh = new THREE.InstancedMesh(geometry, this.material, capacity);
    mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
    mesh.instanceColor = new THREE.InstancedBufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage);
    mesh.count = 0;
    mesh.visible = false;
    mesh.frustumCulled = false;
    mesh.name = name;
    return mesh;
  }

  private edgeGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(capacity * 6), 3).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDist", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDim", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setDrawRange(0, 0);
    return g;
  }

  private glyphGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const attr = (size: number) => new THREE.BufferAttribute(new Float32Array(capacity * size), size).setUsage(THREE.DynamicDrawUsage);
    g.setAttribute("position", attr(3));
    g.setAttribute("aColor", attr(3));
    g.setAttribute("aSize", attr(1));
    g.setAttribute("aExtent", attr(1));
    g.setAttribute("aGlyph", attr(1));
    g.setAttribute("aPulse", attr(1));
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
        shape: kindStyle(entity.kind).shape, size: this.sizes[i] || BASE,
        x: this.pos[i * 3], y: this.pos[i * 3 + 1], z: this.pos[i * 3 + 2], start: now,
      });
    }
    const oldIndex = this.index;
    const oldPos = this.pos;
    this.view = view;
    const n = view.nodes.length;
    this.index = new Map(view.nodes.map((node, i) => [node.id, i]));
    this.pos = new Float32Array(n * 3);
    this.near = new Uint8Array(n);
    this.pixels = new Float32Array(n);
    this.shapeOf = new Uint8Array(n);
    this.ringScale = new Float32Array(n);
    this.screen = new Float32Array(n * 2);
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
    const shapeIndex = new Map(SHAPES.map((shape, k) => [shape, k]));
    for (const batch of this.shapes.values()) batch.nodes = [];
    this.nsMembers = new Map();
    const nsIndex = new Map<string, number>();
    view.nodes.forEach((node, i) => {
      const shape = kindStyle(node.entity.kind).shape;
      this.shapes.get(shape)!.nodes.push(i);
      this.shapeOf[i] = shapeIndex.get(shape)!;
      if (node.entity.kind === "namespace") nsIndex.set(node.entity.name, i);
    });
    view.nodes.forEach((node, i) => {
      const ns = node.entity.kind !== "namespace" && node.entity.namespace ? nsIndex.get(node.entity.namespace) : undefined;
      if (ns === undefined) return;
      const members = this.nsMembers.get(ns) ?? [];
      members.push(i);
      this.nsMembers.set(ns, members);
    });
    this.edgeA = new Int32Array(view.edges.length);
    this.edgeB = new Int32Array(view.edges.length);
    this.edgeLength = new Float32Array(view.edges.length);
    this.edgeShown = new Uint8Array(view.edges.length).fill(1);
    for (const batch of this.edgeBatches.values()) batch.edges = [];
    view.edges.forEach((edge, i) => {
      this.edgeA[i] = this.index.get(edge.source)!;
      this.edgeB[i] = this.index.get(edge.target)!;
      this.edgeBatches.get(edge.edge.kind)?.edges.push(i);
    });
    this.ensureCapacity();
    this.viewDirty = true;
    this.refreshStyle();
  }

  private ensureCapacity(): void {
    const fadingByShape = new Map<Shape, number>();
    for (const f of this.fading) fadingByShape.set(f.shape, (fadingByShape.get(f.shape) ?? 0) + 1);
    for (const [shape, batch] of this.shapes) {
      // Only near nodes are meshes, but any of them may be near.
      const need = batch.nodes.length + (fadingByShape.get(shape) ?? 0);
      if (need <= batch.capacity) continue;
      const capacity = nextCapacity(need);
      const old = batch.mesh;
      const mesh = this.instancedMesh(old.geometry, capacity, old.name);
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
    const n = this.view.nodes.length;
    if ((this.glyphs.geometry.getAttribute("aSize") as THREE.BufferAttribute).count < n) {
      this.glyphs.geometry.dispose();
      this.glyphs.geometry = this.glyphGeometry(nextCapacity(n));
    }
  }

  /** Colours, sizes and animation flags from the entities' current fields. */
  refreshStyle(rebuildParticles = true): void {
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
    this.pulsingAny = this.flags.some((f) => (f & 1) !== 0);
    this.applyHighlight();
    if (rebuildParticles || this.particleEdges.length === 0) this.rebuildParticles();
    this.styleDirty = true;
  }

  /** Traffic particles, the busiest edges first: each edge's first particle before any second. */
  private rebuildParticles(): void {
    const flows = this.view.edges.map((edge, i) => {
      const { count, speed } = particleFlow(edge.edge.kind, edgeRate(edge.edge.kind, edge.edge));
      return { i, count, speed, rate: edgeRate(edge.edge.kind, edge.edge) };
    }).filter((f) => f.count > 0);
    flows.sort((a, b) => b.rate - a.rate);
    const list: number[] = [];
    const meta: number[] = [];
    const budget = this.options.particleBudget;
    for (let rank = 0; rank < 6 && list.length < budget; rank++) {
      for (const f of flows) {
        if (rank >= f.count) continue;
        if (list.length >= budget) break;
        list.push(f.i);
        meta.push(rank / f.count, f.speed, rank);
      }
    }
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
    for (const a of [phase, speed, rank, colour]) upload(a, list.length);
    g.setDrawRange(0, list.length);
    this.viewDirty = true; // particle ends must be written
  }

  setHighlight(ids: Set<string> | null): void {
    this.highlight = ids;
    this.applyHighlight();
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
    }
    // Namespace rings surround their members.
    for (const [ns, members] of this.nsMembers) {
      let cx = 0, cy = 0, cz = 0;
      for (const m of members) { cx += pos[m * 3]; cy += pos[m * 3 + 1]; cz += pos[m * 3 + 2]; }
      cx /= members.length; cy /= members.length; cz /= members.length;
      // The ring holds most members (the 85th percentile): strays should not inflate it.
      const radii = new Float32Array(members.length);
      members.forEach((m, k) => { radii[k] = Math.hypot(pos[m * 3] - cx, pos[m * 3 + 2] - cz); });
      radii.sort();
      pos[ns * 3] = cx; pos[ns * 3 + 1] = cy; pos[ns * 3 + 2] = cz;
      this.ringScale[ns] = radii[Math.floor((radii.length - 1) * 0.85)] + 6;
    }
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
   * Level of detail: the entities largest on screen (and the selection) are meshes, within
   * the triangle budget; the others glyphs. Returns whether the split changed. Rings
   * thinner than a pixel or two are circles of lines.
   */
  private partition(camera: THREE.Camera, projScale: number): boolean {
    const n = this.view.nodes.length;
    const pos = this.pos;
    const camPos = camera.getWorldPosition(new THREE.Vector3());
    const { meshPixels, meshTriangles } = this.options;
    // Screen positions (for the edge budget): clip space by hand, pixels from the centre.
    const m = new THREE.Matrix4().multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse).elements;
    const proj = camera.projectionMatrix.elements;
    const half = projScale / proj[5];
    const halfWidth = projScale / proj[0];
    this.halfWidth = halfWidth;
    this.halfHeight = half;
    const candidates: number[] = [];
    for (let i = 0; i < n; i++) {
      const x = pos[i * 3], y = pos[i * 3 + 1], z = pos[i * 3 + 2];
      const d = Math.hypot(x - camPos.x, y - camPos.y, z - camPos.z);
      const px = (this.sizes[i] * projScale) / Math.max(d, 1e-3);
      this.pixels[i] = px;
      if (px >= meshPixels) candidates.push(i);
      const w = m[3] * x + m[7] * y + m[11] * z + m[15];
      this.screen[i * 2] = w > 1e-3 ? ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w) * halfWidth : NaN;
      this.screen[i * 2 + 1] = w > 1e-3 ? ((m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * half : NaN;
    }
    const near = new Uint8Array(n);
    const ring = SHAPES.indexOf(RING);
    let triangles = 0;
    const take = (i: number | undefined) => {
      if (i === undefined || near[i]) return;
      near[i] = 1;
      triangles += this.triangles[this.shapeOf[i]];
    };
    for (let i = 0; i < n; i++) {
      if (this.shapeOf[i] !== ring) continue;
      const d = Math.hypot(pos[i * 3] - camPos.x, pos[i * 3 + 1] - camPos.y, pos[i * 3 + 2] - camPos.z);
      if ((2 * RING_TUBE * this.ringScale[i] * projScale) / Math.max(d, 1e-3) >= 1.5) take(i);
    }
    take(this.selected !== null ? this.index.get(this.selected) : undefined);
    take(this.hovered !== null ? this.index.get(this.hovered) : undefined);
    // A map whose every entity fits the budget needs no glyphs at all.
    let all = triangles;
    for (let i = 0; i < n && all <= meshTriangles; i++) if (!near[i]) all += this.triangles[this.shapeOf[i]];
    if (all <= meshTriangles) for (let i = 0; i < n; i++) take(i);
    candidates.sort((a, b) => this.pixels[b] - this.pixels[a]);
    for (const i of candidates) {
      if (triangles + this.triangles[this.shapeOf[i]] > meshTriangles) break;
      take(i);
    }
    let changed = false;
    this.pulsingNear = false;
    for (let i = 0; i < n; i++) {
      if (near[i] && this.flags[i]) this.pulsingNear = true;
      if (near[i] !== this.near[i]) changed = true;
    }
    this.near = near;
    return changed;
  }

  private writeGlyphs(): void {
    const g = this.glyphs.geometry;
    const p = g.getAttribute("position").array as Float32Array;
    const c = g.getAttribute("aColor").array as Float32Array;
    const size = g.getAttribute("aSize").array as Float32Array;
    const glyph = g.getAttribute("aGlyph").array as Float32Array;
    const pulse = g.getAttribute("aPulse").array as Float32Array;
    const cells = this.atlas?.cells;
    const cellOf = SHAPES.map((s) => cells?.get(s) ?? 0);
    const extentOf = SHAPES.map((s) => this.atlas?.extents.get(s) ?? 1);
    const extent = g.getAttribute("aExtent").array as Float32Array;
    const pos = this.pos;
    let k = 0;
    const ring = SHAPES.indexOf(RING);
    const sc = this.screen;
    for (let i = 0; i < this.view.nodes.length; i++) {
      if (this.near[i] || this.shapeOf[i] === ring) continue;
      // Off screen (zoomed in): not sent at all, since each point costs its setup anyway.
      const margin = 4 * this.pixels[i] + 8;
      if (!(Math.abs(sc[i * 2]) < this.halfWidth + margin && Math.abs(sc[i * 2 + 1]) < this.halfHeight + margin)) continue;
      p[k * 3] = pos[i * 3]; p[k * 3 + 1] = pos[i * 3 + 1]; p[k * 3 + 2] = pos[i * 3 + 2];
      const d = this.dims[i];
      c[k * 3] = this.colours[i * 3] * d; c[k * 3 + 1] = this.colours[i * 3 + 1] * d; c[k * 3 + 2] = this.colours[i * 3 + 2] * d;
      size[k] = this.sizes[i];
      extent[k] = extentOf[this.shapeOf[i]];
      glyph[k] = cellOf[this.shapeOf[i]];
      pulse[k] = this.flags[i] & 1 ? 1 + (i % 97) / 97 : 0;
      k++;
    }
    for (const name of ["position", "aColor", "aSize", "aExtent", "aGlyph", "aPulse"]) upload(g.getAttribute(name) as THREE.BufferAttribute, k);
    g.setDrawRange(0, k);
    this.glyphs.visible = k > 0 && this.atlas !== null;
    this.glyphCount = k;
  }

  private writeRingLines(): void {
    const ring = SHAPES.indexOf(RING);
    const rings: number[] = [];
    for (let i = 0; i < this.view.nodes.length; i++) if (this.shapeOf[i] === ring && !this.near[i]) rings.push(i);
    let g = this.ringLines.geometry;
    const need = rings.length * RING_SIDES * 2;
    if (!g.getAttribute("position") || g.getAttribute("position").count < need) {
      g.dispose();
      const capacity = nextCapacity(need);
      g = this.ringLines.geometry = new THREE.BufferGeometry();
      g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage));
      g.setAttribute("color", new THREE.BufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage));
    }
    const p = g.getAttribute("position").array as Float32Array;
    const c = g.getAttribute("color").array as Float32Array;
    let v = 0;
    for (const i of rings) {
      const r = this.ringScale[i];
      const d = this.dims[i];
      for (let k = 0; k < RING_SIDES; k++) {
        for (const step of [k, k + 1]) {
          const a = (step / RING_SIDES) * Math.PI * 2;
          p[v * 3] = this.pos[i * 3] + Math.cos(a) * r; p[v * 3 + 1] = this.pos[i * 3 + 1]; p[v * 3 + 2] = this.pos[i * 3 + 2] + Math.sin(a) * r;
          c[v * 3] = this.colours[i * 3] * d; c[v * 3 + 1] = this.colours[i * 3 + 1] * d; c[v * 3 + 2] = this.colours[i * 3 + 2] * d;
          v++;
        }
      }
    }
    upload(g.getAttribute("position") as THREE.BufferAttribute, v);
    upload(g.getAttribute("color") as THREE.BufferAttribute, v);
    g.setDrawRange(0, v);
    this.ringLines.visible = v > 0;
  }

  private writeMeshes(time: number, fadeNow: number): void {
    const pos = this.pos;
    let total = 0;
    for (const [shape, batch] of this.shapes) {
      const m = batch.mesh.instanceMatrix.array as Float32Array;
      const c = batch.mesh.instanceColor!.array as Float32Array;
      let k = 0;
      for (const i of batch.nodes) {
        if (!this.near[i]) continue;
        const ring = this.ringScale[i] || undefined;
        let s = ring ?? this.sizes[i];
        let angle = 0;
        const flags = this.flags[i];
        if (flags & 1) s *= 1 + 0.18 * Math.sin(time * 5 + i);
        if (flags & 2) angle = time * 1.5;
        // Rings grow wide, not thick: y keeps the entity scale.
        writeMatrix(m, k, pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2], s, angle, ring !== undefined ? BASE : s);
        const d = this.dims[i];
        c[k * 3] = this.colours[i * 3] * d; c[k * 3 + 1] = this.colours[i * 3 + 1] * d; c[k * 3 + 2] = this.colours[i * 3 + 2] * d;
        k++;
      }
      for (const f of this.fading) {
        if (f.shape !== shape) continue;
        const t = Math.min(1, (fadeNow - f.start) / FADE_MS);
        writeMatrix(m, k, f.x, f.y, f.z, f.size * (1 - t), 0);
        c[k * 3] = c[k * 3 + 1] = c[k * 3 + 2] = 0.5 * (1 - t);
        k++;
      }
      batch.mesh.count = k;
      batch.mesh.visible = k > 0;
      if (k) {
        upload(batch.mesh.instanceMatrix, k);
        upload(batch.mesh.instanceColor!, k);
      }
      total += k;
    }
    this.meshCount = total;
  }

  /**
   * Which edges to draw: all of them within the pixel budget; beyond it, first the edges of
   * the selection and the hover, then those of the traced path, then the rest, each tier
   * the shortest on screen first until the budget is spent (a histogram of lengths gives
   * each tier's cut without sorting).
   */
  private chooseEdges(): void {
    const edges = this.view.edges;
    const m = edges.length;
    const budget = this.options.edgePixels;
    const shown = this.edgeShown;
    if (!Number.isFinite(budget)) { shown.fill(1); return; }
    const sc = this.screen;
    const tier = new Uint8Array(m); // 0 focus, 1 path, 2 the rest
    const highlight = this.highlight;
    const focus = [this.selected, this.hovered];
    let total = 0;
    for (let e = 0; e < m; e++) {
      const a = this.edgeA[e] * 2, b = this.edgeB[e] * 2;
      let len = Math.hypot(sc[b] - sc[a], sc[b + 1] - sc[a + 1]);
      if (Number.isNaN(len)) len = 1e6; // an end behind the camera: long
      this.edgeLength[e] = len;
      total += len;
      const edge = edges[e];
      tier[e] = focus.includes(edge.source) || focus.includes(edge.target) ? 0
        : highlight !== null && highlight.has(edge.source) && highlight.has(edge.target) ? 1 : 2;
    }
    if (total <= budget) { shown.fill(1); return; }
    const BUCKETS = 256;
    const WIDTH = 8; // px per bucket; the last bucket holds everything longer
    let left = budget;
    const limits = [Infinity, 0, 0];
    for (let e = 0; e < m; e++) if (tier[e] === 0) left -= Math.min(this.edgeLength[e], 4000);
    for (const t of [1, 2]) {
      const sums = new Float64Array(BUCKETS);
      for (let e = 0; e < m; e++) {
        if (tier[e] === t) sums[Math.min(BUCKETS - 1, Math.floor(this.edgeLength[e] / WIDTH))] += Math.min(this.edgeLength[e], 4000);
      }
      let cut = 0;
      while (cut < BUCKETS && sums[cut] <= left) left -= sums[cut++];
      limits[t] = cut * WIDTH;
    }
    for (let e = 0; e < m; e++) shown[e] = this.edgeLength[e] < limits[tier[e]] ? 1 : 0;
  }

  private writeEdges(): void {
    this.chooseEdges();
    const pos = this.pos;
    const highlight = this.highlight;
    const edges = this.view.edges;
    const shown = this.edgeShown;
    for (const batch of this.edgeBatches.values()) {
      const g = batch.lines.geometry;
      const p = g.getAttribute("position").array as Float32Array;
      const dist = g.getAttribute("aDist").array as Float32Array;
      const dim = g.getAttribute("aDim").array as Float32Array;
      let k = 0;
      for (const e of batch.edges) {
        if (!shown[e]) continue;
        const a = this.edgeA[e] * 3;
        const b = this.edgeB[e] * 3;
        p[k * 6] = pos[a]; p[k * 6 + 1] = pos[a + 1]; p[k * 6 + 2] = pos[a + 2];
        p[k * 6 + 3] = pos[b]; p[k * 6 + 4] = pos[b + 1]; p[k * 6 + 5] = pos[b + 2];
        dist[k * 2] = 0;
        dist[k * 2 + 1] = Math.hypot(pos[b] - pos[a], pos[b + 1] - pos[a + 1], pos[b + 2] - pos[a + 2]);
        const d = highlight ? (highlight.has(edges[e].source) && highlight.has(edges[e].target) ? 1.6 : 0.25) : 1;
        dim[k * 2] = dim[k * 2 + 1] = d;
        k++;
      }
      g.setDrawRange(0, k * 2);
      batch.lines.visible = k > 0;
      for (const name of ["position", "aDist", "aDim"]) upload(g.getAttribute(name) as THREE.BufferAttribute, k * 2);
    }
  }

  private writeParticles(): void {
    const pos = this.pos;
    const highlight = this.highlight;
    const edges = this.view.edges;
    const g = this.particles.geometry;
    const start = g.getAttribute("position").array as Float32Array;
    const end = g.getAttribute("aEnd").array as Float32Array;
    const pdim = g.getAttribute("aDim").array as Float32Array;
    for (let q = 0; q < this.particleCount; q++) {
      const e = this.particleEdges[q];
      const a = this.edgeA[e] * 3;
      const b = this.edgeB[e] * 3;
      start[q * 3] = pos[a]; start[q * 3 + 1] = pos[a + 1]; start[q * 3 + 2] = pos[a + 2];
      end[q * 3] = pos[b]; end[q * 3 + 1] = pos[b + 1]; end[q * 3 + 2] = pos[b + 2];
      // Particles of edges left out by the budget stay hidden.
      pdim[q] = !this.edgeShown[e] ? 0 : highlight ? (highlight.has(edges[e].source) && highlight.has(edges[e].target) ? 1 : 0.08) : 1;
    }
    for (const name of ["position", "aEnd", "aDim"]) upload(g.getAttribute(name) as THREE.BufferAttribute, this.particleCount);
  }

  /**
   * Per frame: positions from the layout, level of detail, animations, buffers. Returns
   * whether the next frame differs from the last one (something moved or animates), so
   * that the caller can skip drawing identical frames.
   */
  update(layout: LayoutClient, time: number, camera: THREE.Camera, cameraDistance: number, viewportHeight: number): boolean {
    const projScale = (camera.projectionMatrix.elements[5] * viewportHeight) / 2;
    const moved = this.readPositions(layout);
    const viewChanged = this.viewDirty;
    const styled = this.styleDirty;
    const looked = this.cameraMoved(camera, projScale);
    this.viewDirty = this.styleDirty = false;
    const focus = `${this.selected}|${this.hovered}`;
    const refocused = focus !== this.partitionedFor;
    this.partitionedFor = focus;
    const split = moved || looked || styled || refocused ? this.partition(camera, projScale) : false;
    if (moved || split || styled || looked) {
      this.writeGlyphs();
      this.writeRingLines();
    }

    const fadeNow = performance.now();
    const fadingBefore = this.fading.length;
    this.fading = this.fading.filter((f) => fadeNow - f.start < FADE_MS);
    if (moved || split || styled || this.pulsingNear || this.fading.length || fadingBefore) this.writeMeshes(time, fadeNow);
    // Edges are chosen by their length on screen, so a camera move may change them too.
    const budgeted = Number.isFinite(this.options.edgePixels);
    const edgesChanged = moved || styled || (budgeted && looked);
    if (edgesChanged) this.writeEdges();
    if (edgesChanged || viewChanged) this.writeParticles();

    for (const mat of this.edgeMaterials.values()) mat.uniforms.time.value = time;
    this.glyphMaterial.uniforms.time.value = time;
    this.glyphMaterial.uniforms.projScale.value = projScale;
    this.particles.visible = this.particleCount > 0;
    this.particleMaterial.uniforms.time.value = time;
    // Level of detail: fewer particles per edge as the camera backs away.
    const maxRank = cameraDistance < 250 ? 6 : cameraDistance < 600 ? 3 : cameraDistance < 1400 ? 1 : 0;
    this.particleMaterial.uniforms.maxRank.value = maxRank;
    this.particles.visible = this.particleCount > 0 && maxRank > 0;

    this.placeMarker(this.selectMarker, this.selected, camera, time, 1.9, projScale);
    this.placeMarker(this.hoverMarker, this.hovered !== this.selected ? this.hovered : null, camera, time, 1.6, projScale);

    const animating = this.particles.visible || this.pulsingNear || this.fading.length > 0 || fadingBefore > 0 ||
      this.selectMarker.visible || this.hoverMarker.visible || this.edgeBatches.get("volume")!.lines.visible ||
      (this.glyphs.visible && this.pulsingAny);
    return moved || looked || styled || split || animating;
  }

  private placeMarker(marker: THREE.Mesh, id: string | null, camera: THREE.Camera, time: number, factor: number, projScale: number): void {
    const i = id ? this.index.get(id) : undefined;
    marker.visible = i !== undefined;
    if (i === undefined) return;
    marker.position.set(this.pos[i * 3], this.pos[i * 3 + 1], this.pos[i * 3 + 2]);
    marker.quaternion.copy(camera.quaternion);
    // Never smaller than a dozen pixels: among thousands of dots the selection must show.
    const least = (12 * marker.position.distanceTo(camera.getWorldPosition(new THREE.Vector3()))) / Math.max(projScale, 1e-3);
    marker.scale.setScalar(Math.max(this.sizes[i] * factor, least) * (1 + 0.06 * Math.sin(time * 4)));
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
