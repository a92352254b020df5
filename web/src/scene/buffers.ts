// Small helpers for the scene's growable GPU buffers.
import type * as THREE from "three";

/** Buffers grow by doubling from 64, so that a growing map reallocates rarely. */
export function nextCapacity(n: number): number {
  let c = 64;
  while (c < n) c *= 2;
  return c;
}

/** Mark the first `items` items of an attribute for upload (never the unused tail). */
export function upload(attribute: THREE.BufferAttribute | THREE.InstancedBufferAttribute, items: number): void {
  attribute.clearUpdateRanges();
  attribute.addUpdateRange(0, Math.max(1, items) * attribute.itemSize);
  attribute.needsUpdate = true;
}

/** Translation * rotation about y * uniform scale, written straight into a matrix array. */
export function writeMatrix(m: Float32Array, k: number, x: number, y: number, z: number, s: number, angle: number, sy = s): void {
  const c = Math.cos(angle) * s;
  const n = Math.sin(angle) * s;
  const o = k * 16;
  m[o] = c; m[o + 1] = 0; m[o + 2] = -n; m[o + 3] = 0;
  m[o + 4] = 0; m[o + 5] = sy; m[o + 6] = 0; m[o + 7] = 0;
  m[o + 8] = n; m[o + 9] = 0; m[o + 10] = c; m[o + 11] = 0;
  m[o + 12] = x; m[o + 13] = y; m[o + 14] = z; m[o + 15] = 1;
}
