// Connections: one LineSegments per edge style (dashes and the volume pulse in the shader)
// and one Points for all traffic particles (moved along their edge in the vertex shader, so
// the CPU only rewrites ends). Lines cost a software renderer per pixel: beyond a budget of
// pixels, the edges drawn are chosen (the selection's first, the shortest next).
import * as THREE from "three";
import type { ConnectionKind } from "../../api/types";
import { nextCapacity, upload } from "../buffers";
import { EDGE_KINDS, EDGE_STYLES, edgeRate, particleFlow } from "../mapping";
import type { SceneGraph } from "../SceneGraph";
import { edgeFragment, edgeVertex, particleFragment, particleVertex } from "../shaders";

interface EdgeBatch {
  lines: THREE.LineSegments;
  capacity: number;
  edges: number[]; // view edge indices
}

export class EdgeLayer {
  private readonly batches = new Map<ConnectionKind, EdgeBatch>();
  private readonly materials = new Map<ConnectionKind, THREE.ShaderMaterial>();
  private readonly particles: THREE.Points;
  private readonly particleMaterial: THREE.ShaderMaterial;
  private particleEdges = new Int32Array(0); // edge index per particle
  private particleCount = 0;
  private edgeLength = new Float32Array(0); // on screen, px
  private edgeShown = new Uint8Array(0);

  constructor(root: THREE.Group, private readonly edgePixels: number, private readonly particleBudget: number) {
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
      this.materials.set(kind, mat);
      const lines = new THREE.LineSegments(this.edgeGeometry(64), mat);
      lines.frustumCulled = false;
      lines.name = `edges:${kind}`;
      this.batches.set(kind, { lines, capacity: 64, edges: [] });
      root.add(lines);
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
    root.add(this.particles);
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

  /** Group a new view's edges by style; grow buffers that are too small. */
  setView(sg: SceneGraph): void {
    const m = sg.view.edges.length;
    this.edgeLength = new Float32Array(m);
    this.edgeShown = new Uint8Array(m).fill(1);
    for (const batch of this.batches.values()) batch.edges = [];
    sg.view.edges.forEach((edge, i) => this.batches.get(edge.edge.kind)?.edges.push(i));
    for (const batch of this.batches.values()) {
      if (batch.edges.length <= batch.capacity) continue;
      batch.capacity = nextCapacity(batch.edges.length);
      batch.lines.geometry.dispose();
      batch.lines.geometry = this.edgeGeometry(batch.capacity);
    }
  }

  /** Traffic particles, the busiest edges first: each edge's first particle before any second. */
  rebuildParticles(sg: SceneGraph): void {
    const flows = sg.view.edges.map((edge, i) => {
      const { count, speed } = particleFlow(edge.edge.kind, edgeRate(edge.edge.kind, edge.edge));
      return { i, count, speed, rate: edgeRate(edge.edge.kind, edge.edge) };
    }).filter((f) => f.count > 0);
    flows.sort((a, b) => b.rate - a.rate);
    const list: number[] = [];
    const meta: number[] = [];
    const budget = this.particleBudget;
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
      const edge = sg.view.edges[list[p]];
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
  }

  get hasParticles(): boolean {
    return this.particleEdges.length > 0;
  }

  /** Whether edges are chosen by their length on screen (so a camera move changes them). */
  get budgeted(): boolean {
    return Number.isFinite(this.edgePixels);
  }

  /**
   * Which edges to draw: all of them within the pixel budget; beyond it, first the edges of
   * the selection and the hover, then those of the traced path, then the rest, each tier
   * the shortest on screen first until the budget is spent (a histogram of lengths gives
   * each tier's cut without sorting).
   */
  private chooseEdges(sg: SceneGraph): void {
    const edges = sg.view.edges;
    const m = edges.length;
    const budget = this.edgePixels;
    const shown = this.edgeShown;
    if (!Number.isFinite(budget)) { shown.fill(1); return; }
    const sc = sg.screen;
    const tier = new Uint8Array(m); // 0 focus, 1 path, 2 the rest
    const highlight = sg.highlight;
    const focus = [sg.selected, sg.hovered];
    let total = 0;
    for (let e = 0; e < m; e++) {
      const a = sg.edgeA[e] * 2, b = sg.edgeB[e] * 2;
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

  writeEdges(sg: SceneGraph): void {
    this.chooseEdges(sg);
    const { pos, highlight } = sg;
    const edges = sg.view.edges;
    const shown = this.edgeShown;
    for (const batch of this.batches.values()) {
      const g = batch.lines.geometry;
      const p = g.getAttribute("position").array as Float32Array;
      const dist = g.getAttribute("aDist").array as Float32Array;
      const dim = g.getAttribute("aDim").array as Float32Array;
      let k = 0;
      for (const e of batch.edges) {
        if (!shown[e]) continue;
        const a = sg.edgeA[e] * 3;
        const b = sg.edgeB[e] * 3;
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

  writeParticles(sg: SceneGraph): void {
    const { pos, highlight } = sg;
    const edges = sg.view.edges;
    const g = this.particles.geometry;
    const start = g.getAttribute("position").array as Float32Array;
    const end = g.getAttribute("aEnd").array as Float32Array;
    const pdim = g.getAttribute("aDim").array as Float32Array;
    for (let q = 0; q < this.particleCount; q++) {
      const e = this.particleEdges[q];
      const a = sg.edgeA[e] * 3;
      const b = sg.edgeB[e] * 3;
      start[q * 3] = pos[a]; start[q * 3 + 1] = pos[a + 1]; start[q * 3 + 2] = pos[a + 2];
      end[q * 3] = pos[b]; end[q * 3 + 1] = pos[b + 1]; end[q * 3 + 2] = pos[b + 2];
      // Particles of edges left out by the budget stay hidden.
      pdim[q] = !this.edgeShown[e] ? 0 : highlight ? (highlight.has(edges[e].source) && highlight.has(edges[e].target) ? 1 : 0.08) : 1;
    }
    for (const name of ["position", "aEnd", "aDim"]) upload(g.getAttribute(name) as THREE.BufferAttribute, this.particleCount);
  }

  /** Per frame: animation uniforms and particle level of detail; whether anything animates. */
  frame(time: number, cameraDistance: number): boolean {
    for (const mat of this.materials.values()) mat.uniforms.time.value = time;
    this.particleMaterial.uniforms.time.value = time;
    // Level of detail: fewer particles per edge as the camera backs away.
    const maxRank = cameraDistance < 250 ? 6 : cameraDistance < 600 ? 3 : cameraDistance < 1400 ? 1 : 0;
    this.particleMaterial.uniforms.maxRank.value = maxRank;
    this.particles.visible = this.particleCount > 0 && maxRank > 0;
    return this.particles.visible || this.batches.get("volume")!.lines.visible;
  }
}
