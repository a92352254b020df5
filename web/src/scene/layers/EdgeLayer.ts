// Connections: one LineSegments per edge style (dashes and the volume pulse in the shader).
// Lines cost a software renderer per pixel: beyond a budget of pixels, the edges drawn are
// chosen (the selection's first, the shortest next). Traffic particles: ParticleLayer.ts.
import * as THREE from "three";
import { nextCapacity, upload } from "../buffers";
import { EDGE_KINDS, EDGE_STYLES, type EdgeStyleKey, edgeStyleKey } from "../mapping";
import type { SceneGraph } from "../SceneGraph";
import { edgeFragment, edgeVertex } from "../shaders";

interface EdgeBatch {
  lines: THREE.LineSegments;
  capacity: number;
  edges: number[]; // view edge indices
}

export class EdgeLayer {
  private readonly batches = new Map<EdgeStyleKey, EdgeBatch>();
  private readonly materials = new Map<EdgeStyleKey, THREE.ShaderMaterial>();
  private edgeLength = new Float32Array(0); // on screen, px
  /** Per view edge: 1 when drawn (within the pixel budget), read by the particles. */
  shown = new Uint8Array(0);

  constructor(root: THREE.Group, private readonly edgePixels: number) {
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
  }

  private edgeGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(capacity * 6), 3).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDist", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setAttribute("aDim", new THREE.BufferAttribute(new Float32Array(capacity * 2), 1).setUsage(THREE.DynamicDrawUsage));
    g.setDrawRange(0, 0);
    return g;
  }

  /** Group a new view's edges by style; grow buffers that are too small. */
  setView(sg: SceneGraph): void {
    const m = sg.view.edges.length;
    this.edgeLength = new Float32Array(m);
    this.shown = new Uint8Array(m).fill(1);
    for (const batch of this.batches.values()) batch.edges = [];
    sg.view.edges.forEach((edge, i) => this.batches.get(edgeStyleKey(edge))?.edges.push(i));
    for (const batch of this.batches.values()) {
      if (batch.edges.length <= batch.capacity) continue;
      batch.capacity = nextCapacity(batch.edges.length);
      batch.lines.geometry.dispose();
      batch.lines.geometry = this.edgeGeometry(batch.capacity);
    }
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
    const shown = this.shown;
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
    const shown = this.shown;
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

  /** Per frame: the animation clock; whether anything animates (the volume pulse). */
  frame(time: number): boolean {
    for (const mat of this.materials.values()) mat.uniforms.time.value = time;
    return this.batches.get("volume")!.lines.visible;
  }
}
