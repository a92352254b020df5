// The many-body push of the whole map: d3-force-3d's forceManyBody (Barnes-Hut on an
// octree), the same forces on flat typed arrays. d3's took 13 ms a tick at 1,000 nodes and
// 165 ms at 10,000 (an octree of objects, visited through closures), so a 1,000-node map
// took 2-3 s of a core to come to rest and a 50,000-node one blocked its worker for seconds
// a tick. The layout was tuned with d3's forces, so this keeps them, quirks included:
// single-point leaves in a cube that starts at the floor of the smallest coordinates and
// doubles until it covers the map, and each cell's summed strength scaled by sqrt(4 / 8)
// (d3-force-3d scales by the square root of 4 over its tree's arity; an octree has 8).
import type { Force, SimNode } from "d3-force-3d";

const LEVEL_SCALE = Math.SQRT1_2;
/** Deeper than this, points are all but coincident: they share a leaf, as d3's do. */
const MAX_DEPTH = 40;

export interface ManyBody<N extends SimNode> extends Force<N> {
  initialize(nodes: N[], ...rest: unknown[]): void;
}

export function manyBody<N extends SimNode>(strength: number, theta: number, distanceMax = Infinity): ManyBody<N> {
  const theta2 = theta * theta;
  const max2 = distanceMax * distanceMax;
  let nodes: N[] = [];
  let random: () => number = Math.random;
  // Per node: position, and the permutation the tree is built on.
  let px = new Float64Array(0), py = px, pz = px;
  let order = new Int32Array(0), scratch = order;
  // Per cell.
  let capacity = 0;
  let cx = new Float64Array(0), cy = cx, cz = cx, value = cx, open = cx;
  let first = new Int32Array(0), count = first, kidsAt = first, kidsN = first;
  let kids = new Int32Array(0);
  let cells = 0, kidsUsed = 0;
  let stack = new Int32Array(64);
  // Octant sizes and write positions, 8 per depth (the recursion keeps its level's).
  const sizesAt = new Int32Array(8 * (MAX_DEPTH + 1)), fillAt = new Int32Array(8 * (MAX_DEPTH + 1));

  function grow(): void {
    const next = Math.max(64, capacity * 2);
    const f64 = (old: Float64Array) => { const a = new Float64Array(next); a.set(old); return a; };
    const i32 = (old: Int32Array) => { const a = new Int32Array(next); a.set(old); return a; };
    cx = f64(cx); cy = f64(cy); cz = f64(cz); value = f64(value); open = f64(open);
    first = i32(first); count = i32(count); kidsAt = i32(kidsAt); kidsN = i32(kidsN); kids = i32(kids);
    capacity = next;
  }

  /** The cell of order[start, end) in the cube at (x0, y0, z0) of side w; its index. */
  function build(start: number, end: number, x0: number, y0: number, z0: number, w: number, depth: number): number {
    if (cells === capacity) grow();
    const c = cells++;
    open[c] = (w * w) / theta2; // nearer than this, the cell is opened
    first[c] = start;
    count[c] = end - start;
    kidsN[c] = 0;
    const p0 = order[start];
    let leaf = end - start === 1 || depth >= MAX_DEPTH;
    if (!leaf) {
      leaf = true; // unless two points differ
      for (let k = start + 1; k < end; k++) {
        const p = order[k];
        if (px[p] !== px[p0] || py[p] !== py[p0] || pz[p] !== pz[p0]) { leaf = false; break; }
      }
    }
    if (leaf) {
      // (d3: a leaf is a point and the points coincident with it.)
      cx[c] = px[p0]; cy[c] = py[p0]; cz[c] = pz[p0];
      value[c] = strength * (end - start);
      return c;
    }
    const h = w / 2, xm = x0 + h, ym = y0 + h, zm = z0 + h;
    const d8 = depth * 8;
    const sizes = sizesAt, at = fillAt;
    sizes.fill(0, d8, d8 + 8);
    for (let k = start; k < end; k++) {
      const p = order[k];
      sizes[d8 + ((px[p] >= xm ? 1 : 0) | (py[p] >= ym ? 2 : 0) | (pz[p] >= zm ? 4 : 0))]++;
    }
    let n = 0;
    for (let o = 0, sum = start; o < 8; o++) { at[d8 + o] = sum; sum += sizes[d8 + o]; if (sizes[d8 + o]) n++; }
    for (let k = start; k < end; k++) {
      const p = order[k];
      scratch[at[d8 + ((px[p] >= xm ? 1 : 0) | (py[p] >= ym ? 2 : 0) | (pz[p] >= zm ? 4 : 0))]++] = p;
    }
    for (let k = start; k < end; k++) order[k] = scratch[k];
    // (Kids are reserved before they are built: up to 8 a level more than the cells so far.)
    while (kidsUsed + n > capacity) grow();
    const base = kidsUsed;
    kidsUsed += n;
    kidsAt[c] = base;
    kidsN[c] = n;
    let v = 0, weight = 0, x = 0, y = 0, z = 0;
    for (let o = 0, s = start, k = base; o < 8; o++) {
      const size = sizes[d8 + o];
      if (!size) continue;
      const kid = build(s, s + size, o & 1 ? xm : x0, o & 2 ? ym : y0, o & 4 ? zm : z0, h, depth + 1);
      kids[k++] = kid;
      s += size;
      const m = Math.abs(value[kid]);
      v += value[kid]; weight += m;
      x += m * cx[kid]; y += m * cy[kid]; z += m * cz[kid];
    }
    value[c] = v * LEVEL_SCALE;
    cx[c] = x / weight; cy[c] = y / weight; cz[c] = z / weight;
    return c;
  }

  const jiggle = () => (random() - 0.5) * 1e-6;

  const force = ((alpha: number) => {
    const n = nodes.length;
    if (n < 2) return;
    let minX = Infinity, minY = Infinity, minZ = Infinity, maxX = -Infinity, maxY = -Infinity, maxZ = -Infinity;
    for (let i = 0; i < n; i++) {
      const node = nodes[i];
      const x = (px[i] = node.x!), y = (py[i] = node.y!), z = (pz[i] = node.z!);
      order[i] = i;
      if (x < minX) minX = x; if (x > maxX) maxX = x;
      if (y < minY) minY = y; if (y > maxY) maxY = y;
      if (z < minZ) minZ = z; if (z > maxZ) maxZ = z;
    }
    // d3-octree's cover: a unit cube at the floor of the first point, doubled until the
    // others are inside (strictly below its far faces).
    const x0 = Math.floor(minX), y0 = Math.floor(minY), z0 = Math.floor(minZ);
    let w = 1;
    while (x0 + w <= maxX || y0 + w <= maxY || z0 + w <= maxZ) w *= 2;
    cells = 0;
    kidsUsed = 0;
    build(0, n, x0, y0, z0, w, 0);
    if (stack.length < cells) stack = new Int32Array(cells);
    // (Locals: V8 reads closure variables reassigned elsewhere through their context.)
    const X = px, Y = py, Z = pz, CX = cx, CY = cy, CZ = cz, V = value, OPEN = open;
    const KIDS = kids, KIDS_AT = kidsAt, KIDS_N = kidsN, FIRST = first, COUNT = count, ORDER = order, STACK = stack;
    for (let i = 0; i < n; i++) {
      const xi = X[i], yi = Y[i], zi = Z[i];
      let vx = 0, vy = 0, vz = 0;
      let sp = 0;
      STACK[sp++] = 0;
      while (sp) {
        const c = STACK[--sp];
        const v = V[c];
        if (!v) continue;
        let x = CX[c] - xi, y = CY[c] - yi, z = CZ[c] - zi;
        let l = x * x + y * y + z * z;
        if (OPEN[c] < l) {
          // Far enough: the cell as one body.
          if (l < max2) {
            if (x === 0) { x = jiggle(); l += x * x; }
            if (y === 0) { y = jiggle(); l += y * y; }
            if (z === 0) { z = jiggle(); l += z * z; }
            if (l < 1) l = Math.sqrt(l);
            const f = (v * alpha) / l;
            vx += x * f; vy += y * f; vz += z * f;
          }
          continue;
        }
        const nk = KIDS_N[c];
        if (nk) {
          for (let k = KIDS_AT[c] + nk - 1; k >= KIDS_AT[c]; k--) STACK[sp++] = KIDS[k];
          continue;
        }
        if (l >= max2) continue;
        const start = FIRST[c], end = start + COUNT[c];
        if (end - start === 1 && ORDER[start] === i) continue; // itself
        if (x === 0) { x = jiggle(); l += x * x; }
        if (y === 0) { y = jiggle(); l += y * y; }
        if (z === 0) { z = jiggle(); l += z * z; }
        if (l < 1) l = Math.sqrt(l);
        let others = 0;
        for (let k = start; k < end; k++) if (ORDER[k] !== i) others++;
        const f = (strength * others * alpha) / l;
        vx += x * f; vy += y * f; vz += z * f;
      }
      const node = nodes[i];
      node.vx! += vx; node.vy! += vy; node.vz! += vz;
    }
  }) as ManyBody<N>;

  force.initialize = (all: N[], ...rest: unknown[]) => {
    nodes = all;
    random = (rest.find((arg) => typeof arg === "function") as (() => number) | undefined) ?? Math.random;
    const n = all.length;
    if (px.length < n) {
      const size = Math.max(n, px.length * 2);
      px = new Float64Array(size); py = new Float64Array(size); pz = new Float64Array(size);
      order = new Int32Array(size); scratch = new Int32Array(size);
    }
  };
  return force;
}
