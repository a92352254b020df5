// Level of detail for the nodes: the entities largest on screen (and the selection and
// hover) are drawn as meshes, within a triangle budget; the others as glyphs. A software
// renderer pays for every triangle, so the budget, not the entity count, bounds the cost.
// Rings thinner than a pixel or two are circles of lines. Screen positions are computed
// here too (the edge budget reads them).
import * as THREE from "three";
import { RING } from "./layers/NodeLayer";
import { SHAPES } from "./mapping";
import type { SceneGraph } from "./SceneGraph";

const RING_TUBE = 0.012; // the ring geometry's tube radius (geometries.ts)

export interface DetailBudget {
  /** Entities at least this many pixels in radius are drawn as meshes... */
  meshPixels: number;
  /** ...at most this many triangles of them (the largest on screen first); the rest as glyphs. */
  meshTriangles: number;
}

/**
 * Writes `sg.near` (1: a mesh), `sg.pixels`, `sg.screen` and the viewport's half size.
 * `triangles` holds each shape's triangle count (index into SHAPES). Returns whether the
 * split changed, and whether a pulsing entity is a mesh (so frames keep coming).
 */
export function partition(
  sg: SceneGraph, camera: THREE.Camera, projScale: number, { meshPixels, meshTriangles }: DetailBudget, triangles: readonly number[],
): { changed: boolean; pulsingNear: boolean } {
  const n = sg.view.nodes.length;
  const pos = sg.pos;
  const camPos = camera.getWorldPosition(new THREE.Vector3());
  // Screen positions (for the edge budget): clip space by hand, pixels from the centre.
  const m = new THREE.Matrix4().multiplyMatrices(camera.projectionMatrix, camera.matrixWorldInverse).elements;
  const proj = camera.projectionMatrix.elements;
  const half = projScale / proj[5];
  const halfWidth = projScale / proj[0];
  sg.halfWidth = halfWidth;
  sg.halfHeight = half;
  const candidates: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = pos[i * 3], y = pos[i * 3 + 1], z = pos[i * 3 + 2];
    const dx = x - camPos.x, dy = y - camPos.y, dz = z - camPos.z;
    const d = Math.sqrt(dx * dx + dy * dy + dz * dz); // not Math.hypot: 30 times slower in V8
    const px = (sg.sizes[i] * projScale) / Math.max(d, 1e-3);
    sg.pixels[i] = px;
    if (px >= meshPixels) candidates.push(i);
    const w = m[3] * x + m[7] * y + m[11] * z + m[15];
    sg.screen[i * 2] = w > 1e-3 ? ((m[0] * x + m[4] * y + m[8] * z + m[12]) / w) * halfWidth : NaN;
    sg.screen[i * 2 + 1] = w > 1e-3 ? ((m[1] * x + m[5] * y + m[9] * z + m[13]) / w) * half : NaN;
  }
  const near = new Uint8Array(n);
  const ring = SHAPES.indexOf(RING);
  let used = 0;
  const take = (i: number | undefined) => {
    if (i === undefined || near[i]) return;
    near[i] = 1;
    used += triangles[sg.shapeOf[i]];
  };
  for (let i = 0; i < n; i++) {
    if (sg.shapeOf[i] !== ring) continue;
    const dx = pos[i * 3] - camPos.x, dy = pos[i * 3 + 1] - camPos.y, dz = pos[i * 3 + 2] - camPos.z;
    const d = Math.sqrt(dx * dx + dy * dy + dz * dz);
    if ((2 * RING_TUBE * sg.ringScale[i] * projScale) / Math.max(d, 1e-3) >= 1.5) take(i);
  }
  take(sg.selected !== null ? sg.index.get(sg.selected) : undefined);
  take(sg.hovered !== null ? sg.index.get(sg.hovered) : undefined);
  // A map whose every entity fits the budget needs no glyphs at all.
  let all = used;
  for (let i = 0; i < n && all <= meshTriangles; i++) if (!near[i]) all += triangles[sg.shapeOf[i]];
  if (all <= meshTriangles) for (let i = 0; i < n; i++) take(i);
  candidates.sort((a, b) => sg.pixels[b] - sg.pixels[a]);
  for (const i of candidates) {
    if (used + triangles[sg.shapeOf[i]] > meshTriangles) break;
    take(i);
  }
  let changed = false;
  let pulsingNear = false;
  for (let i = 0; i < n; i++) {
    if (near[i] && sg.flags[i]) pulsingNear = true;
    if (near[i] !== sg.near[i]) changed = true;
  }
  sg.near = near;
  return { changed, pulsingNear };
}
