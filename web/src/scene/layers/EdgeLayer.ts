// Connections: one LineSegments for every edge style, so one draw call (a software renderer
// pays a fixed cost per draw that, on a busy machine, outweighed the lines themselves):
// each vertex carries its style's index, and colour, opacity, dashes and the volume pulse
// are looked up in the shader. Lines cost a software renderer per pixel and per line too:
// beyond a budget of pixels or of lines, the edges drawn are chosen (the selection's first,
// the shortest next).
// Traffic particles: ParticleLayer.ts.
import * as THREE from "three";
import { nextCapacity, upload } from "../buffers";
import { EDGE_KINDS, EDGE_STYLES, edgeStyleKey } from "../mapping";
import type { SceneGraph } from "../SceneGraph";
import { edgeFragment, edgeVertex } from "../shaders";

const VOLUME = EDGE_KINDS.indexOf("volume");
/** Style key -> index into EDGE_KINDS (a lookup per edge: indexOf on 20,000 took 5 ms). */
const STYLE_INDEX = new Map<string, number>(EDGE_KINDS.map((kind, k) => [kind, k]));

export class EdgeLayer {
  private readonly lines: THREE.LineSegments;
  private readonly material: THREE.ShaderMaterial;
  private capacity = 64;
  /** View edge indices in drawing order: grouped by style in EDGE_KINDS order, as the
   * styles' separate batches were drawn (the blending of overlaps stays the same). */
  private order = new Int32Array(0);
  private styleOf = new Uint8Array(0); // per view edge, index into EDGE_KINDS
  private edgeLength = new Float32Array(0); // on screen, px
  private tier = new Uint8Array(0); // per view edge, as chosen: 0 focus, 1 path, 2 the rest
  private volumeShown = false;
  /** Per view edge: 1 when drawn (within the pixel budget), read by the particles. */
  shown = new Uint8Array(0);
  /** The share of the budgets spent (less while a moving camera makes frames slow). */
  share = 1;

  constructor(root: THREE.Group, private readonly edgePixels: number, private readonly edgeLines = Infinity) {
    const styles = EDGE_KINDS.map((kind) => EDGE_STYLES[kind]);
    this.material = new THREE.ShaderMaterial({
      vertexShader: edgeVertex(EDGE_KINDS.length),
      fragmentShader: edgeFragment,
      transparent: true,
      depthWrite: false,
      uniforms: {
        colours: { value: styles.map((s) => new THREE.Color(...s.colour)) },
        // Per style: opacity, dashed (0/1), pulse (0/1).
        looks: { value: styles.map((s) => new THREE.Vector3(s.opacity, s.dashed ? 1 : 0, s.pulse ? 1 : 0)) },
        time: { value: 0 },
      },
    });
    this.lines = new THREE.LineSegments(this.edgeGeometry(this.capacity), this.material);
    this.lines.frustumCulled = false;
    this.lines.name = "edges";
    this.lines.visible = false;
    root.add(this.lines);
  }

  private edgeGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const attr = (size: number) => new THREE.BufferAttribute(new Float32Array(capacity * 2 * size), size).setUsage(THREE.DynamicDrawUsage);
    g.setAttribute("position", attr(3));
    g.setAttribute("aDist", attr(1));
    g.setAttribute("aDim", attr(1));
    g.setAttribute("aStyle", attr(1));
    g.setDrawRange(0, 0);
    return g;
  }

  /** Order a new view's edges by style; grow the buffers when they are too small. */
  setView(sg: SceneGraph): void {
    const edges = sg.view.edges;
    const m = edges.length;
    this.edgeLength = new Float32Array(m);
    this.shown = new Uint8Array(m).fill(1);
    this.styleOf = new Uint8Array(m);
    const counts = new Int32Array(EDGE_KINDS.length + 1);
    edges.forEach((edge, i) => {
      const style = STYLE_INDEX.get(edgeStyleKey(edge));
      this.styleOf[i] = style ?? 255;
      if (style !== undefined) counts[style + 1] += 1;
    });
    for (let s = 1; s < counts.length; s++) counts[s] += counts[s - 1];
    this.order = new Int32Array(counts[EDGE_KINDS.length]);
    for (let i = 0; i < m; i++) if (this.styleOf[i] !== 255) this.order[counts[this.styleOf[i]]++] = i;
    if (this.order.length > this.capacity) {
      this.capacity = nextCapacity(this.order.length);
      this.lines.geometry.dispose();
      this.lines.geometry = this.edgeGeometry(this.capacity);
    }
  }

  /** Whether edges are chosen by their length on screen (so a camera move changes them). */
  get budgeted(): boolean {
    return Number.isFinite(this.edgePixels) || Number.isFinite(this.edgeLines);
  }

  /**
   * Which edges to draw: all of them within the budgets of pixels and lines; beyond them, first the edges of
   * the selection and the hover, then those of the traced path, then the rest, each tier
   * the shortest on screen first until the budget is spent (a histogram of lengths gives
   * each tier's cut without sorting).
   */
  private chooseEdges(sg: SceneGraph): void {
    const edges = sg.view.edges;
    const m = edges.length;
    const budget = this.edgePixels * this.share;
    const lineBudget = Math.floor(this.edgeLines * this.share);
    const shown = this.shown;
    if (!this.budgeted) { shown.fill(1); return; }
    const sc = sg.screen;
    if (this.tier.length !== m) this.tier = new Uint8Array(m);
    const tier = this.tier; // 0 focus, 1 path, 2 the rest
    // By view node index, not id: a string compared or looked up per edge took most of the
    // choice at 50,000 entities (100,000 edges, 41 ms).
    const node = (id: string | null) => (id === null ? -1 : sg.index.get(id) ?? -1);
    const selected = node(sg.selected), hovered = node(sg.hovered);
    const lit = sg.highlight !== null ? sg.dims : null; // 1: on the traced path
    const { edgeA, edgeB } = sg;
    let total = 0;
    for (let e = 0; e < m; e++) {
      const a = edgeA[e], b = edgeB[e];
      const dx = sc[b * 2] - sc[a * 2], dy = sc[b * 2 + 1] - sc[a * 2 + 1];
      let len = Math.sqrt(dx * dx + dy * dy); // not Math.hypot: 30 times slower in V8
      if (Number.isNaN(len)) len = 1e6; // an end behind the camera: long
      this.edgeLength[e] = len;
      total += len;
      tier[e] = a === selected || b === selected || a === hovered || b === hovered ? 0
        : lit !== null && lit[a] === 1 && lit[b] === 1 ? 1 : 2;
    }
    if (total <= budget && m <= lineBudget) { shown.fill(1); return; }
    const BUCKETS = 256;
    const WIDTH = 8; // px per bucket; the last bucket holds everything longer
    let left = budget;
    let lines = lineBudget;
    const limits = [Infinity, 0, 0];
    const partial = [-1, -1, -1], spareLines = [0, 0, 0], sparePixels = [0, 0, 0];
    for (let e = 0; e < m; e++) {
      if (tier[e] === 0) { left -= Math.min(this.edgeLength[e], 4000); lines -= 1; }
    }
    for (const t of [1, 2]) {
      const sums = new Float64Array(BUCKETS);
      const counts = new Int32Array(BUCKETS);
      for (let e = 0; e < m; e++) {
        if (tier[e] !== t) continue;
        const bucket = Math.min(BUCKETS - 1, Math.floor(this.edgeLength[e] / WIDTH));
        sums[bucket] += Math.min(this.edgeLength[e], 4000);
        counts[bucket] += 1;
      }
      let cut = 0;
      while (cut < BUCKETS && sums[cut] <= left && counts[cut] <= lines) {
        left -= sums[cut];
        lines -= counts[cut++];
      }
      limits[t] = cut * WIDTH;
      // The bucket that did not fit whole gets what is left (at overview thousands of edges
      // share the shortest bucket: all or none of them would be a cliff); later tiers none.
      if (cut < BUCKETS) {
        partial[t] = cut; spareLines[t] = lines; sparePixels[t] = left;
        lines = 0; left = 0;
      }
    }
    for (let e = 0; e < m; e++) {
      const t = tier[e];
      const len = this.edgeLength[e];
      const cost = Math.min(len, 4000);
      let show = len < limits[t];
      if (!show && Math.min(BUCKETS - 1, Math.floor(len / WIDTH)) === partial[t] && spareLines[t] > 0 && sparePixels[t] >= cost) {
        show = true;
        spareLines[t] -= 1;
        sparePixels[t] -= cost;
      }
      shown[e] = show ? 1 : 0;
    }
  }

  writeEdges(sg: SceneGraph): void {
    this.chooseEdges(sg);
    const { pos } = sg;
    const lit = sg.highlight !== null ? sg.dims : null; // 1: on the traced path
    const shown = this.shown;
    const g = this.lines.geometry;
    const p = g.getAttribute("position").array as Float32Array;
    const dist = g.getAttribute("aDist").array as Float32Array;
    const dim = g.getAttribute("aDim").array as Float32Array;
    const style = g.getAttribute("aStyle").array as Float32Array;
    let k = 0;
    let volume = false;
    const placed = sg.placed;
    for (const e of this.order) {
      if (!shown[e] || !placed[sg.edgeA[e]] || !placed[sg.edgeB[e]]) continue;
      const a = sg.edgeA[e] * 3;
      const b = sg.edgeB[e] * 3;
      p[k * 6] = pos[a]; p[k * 6 + 1] = pos[a + 1]; p[k * 6 + 2] = pos[a + 2];
      p[k * 6 + 3] = pos[b]; p[k * 6 + 4] = pos[b + 1]; p[k * 6 + 5] = pos[b + 2];
      dist[k * 2] = 0;
      const dx = pos[b] - pos[a], dy = pos[b + 1] - pos[a + 1], dz = pos[b + 2] - pos[a + 2];
      dist[k * 2 + 1] = Math.sqrt(dx * dx + dy * dy + dz * dz);
      const d = lit ? (lit[sg.edgeA[e]] === 1 && lit[sg.edgeB[e]] === 1 ? 1.6 : 0.25) : 1;
      dim[k * 2] = dim[k * 2 + 1] = d;
      style[k * 2] = style[k * 2 + 1] = this.styleOf[e];
      if (this.styleOf[e] === VOLUME) volume = true;
      k++;
    }
    g.setDrawRange(0, k * 2);
    this.lines.visible = k > 0;
    this.volumeShown = volume;
    for (const name of ["position", "aDist", "aDim", "aStyle"]) upload(g.getAttribute(name) as THREE.BufferAttribute, k * 2);
  }

  /** Per frame: the animation clock; whether anything animates (the volume pulse). */
  frame(time: number): boolean {
    this.material.uniforms.time.value = time;
    return this.volumeShown;
  }
}
