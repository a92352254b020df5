// Where to put the camera so that a set of points fills the part of the canvas that no
// panel covers. Pure functions (three.js vectors only), driven by camera.ts.
import * as THREE from "three";

/** Pixels of the canvas, from its top-left corner. */
export interface Rect { left: number; top: number; right: number; bottom: number }

export interface Pose { position: THREE.Vector3; target: THREE.Vector3 }

export interface Lens {
  fovY: number; // radians
  width: number; // px
  height: number;
}

/**
 * The nearest camera pose looking along `forward` (camera to scene) from which every point
 * (x, y, z triples) projects inside `free`, the points' extremes centred in it, and no
 * point nearer than `minDepth`. The target (what the camera orbits) lies on the view axis
 * at the depth of the points' middle. Null when there are no points.
 *
 * In the camera's basis (right r, up u, forward f) a point is (a, b, c) and the camera
 * (X, Y, Z); the point lands at x = (a - X) / ((c - Z) tan(fovX / 2)) in normalised
 * device coordinates. For one Z the admissible X form an interval (the intersection of
 * one interval per point), non-empty once the camera is far enough back: a bisection on
 * Z finds the nearest such distance, and X, Y are the middles of their intervals.
 */
export function fitPoints(
  points: ArrayLike<number>, forward: THREE.Vector3, up: THREE.Vector3, lens: Lens, free: Rect, minDepth = 1,
): Pose | null {
  const n = Math.floor(points.length / 3);
  if (!n) return null;
  const f = forward.clone().normalize();
  const r = new THREE.Vector3().crossVectors(f, up);
  if (r.lengthSq() < 1e-8) r.set(1, 0, 0);
  r.normalize();
  const u = new THREE.Vector3().crossVectors(r, f).normalize();
  const ty = Math.tan(lens.fovY / 2);
  const tx = ty * (lens.width / Math.max(1, lens.height));
  const xl = (2 * free.left) / lens.width - 1, xr = (2 * free.right) / lens.width - 1;
  const yt = 1 - (2 * free.top) / lens.height, yb = 1 - (2 * free.bottom) / lens.height;
  if (!(xr > xl && yt > yb)) return null;

  // The admissible X for the camera at Z is the intersection over the points of
  // [a - high tx (c - Z), a - low tx (c - Z)]: its ends are max(a - high tx c) + high tx Z
  // and min(a - low tx c) + low tx Z, so one pass finds the maxima and minima, and each
  // Z of the bisection costs nothing (it went over every point twice for each of its 40-odd
  // steps: 10 ms a framing at 10,000 entities, 3 framings a second while the layout moves).
  const x0 = points[0], y0 = points[1], z0 = points[2];
  const a0 = x0 * r.x + y0 * r.y + z0 * r.z, b0 = x0 * u.x + y0 * u.y + z0 * u.z;
  let cMin = Infinity, cMax = -Infinity, spread = 0;
  let xLo = -Infinity, xHi = Infinity, yLo = -Infinity, yHi = Infinity;
  for (let i = 0; i < n; i++) {
    const x = points[i * 3], y = points[i * 3 + 1], z = points[i * 3 + 2];
    const a = x * r.x + y * r.y + z * r.z;
    const b = x * u.x + y * u.y + z * u.z;
    const c = x * f.x + y * f.y + z * f.z;
    cMin = Math.min(cMin, c);
    cMax = Math.max(cMax, c);
    spread = Math.max(spread, Math.abs(a - a0), Math.abs(b - b0));
    xLo = Math.max(xLo, a - xr * tx * c);
    xHi = Math.min(xHi, a - xl * tx * c);
    yLo = Math.max(yLo, b - yt * ty * c);
    yHi = Math.min(yHi, b - yb * ty * c);
  }
  // The admissible interval of X (of Y) for the camera at Z: [lo, hi], empty when lo > hi.
  const xAt = (Z: number): [number, number] => [xLo + xr * tx * Z, xHi + xl * tx * Z];
  const yAt = (Z: number): [number, number] => [yLo + yt * ty * Z, yHi + yb * ty * Z];
  const fits = (Z: number) => {
    const [xlo, xhi] = xAt(Z);
    if (xlo > xhi) return false;
    const [ylo, yhi] = yAt(Z);
    return ylo <= yhi;
  };
  let near = cMin - minDepth; // the closest the camera may be
  let far = near;
  if (!fits(near)) {
    let step = Math.max(minDepth, spread, 1);
    far = near - step;
    while (!fits(far)) { near = far; step *= 2; far = near - step; }
    for (let k = 0; k < 40; k++) {
      const mid = (near + far) / 2;
      if (fits(mid)) far = mid; else near = mid;
    }
  }
  const Z = far;
  const [xlo, xhi] = xAt(Z);
  const [ylo, yhi] = yAt(Z);
  const X = (xlo + xhi) / 2, Y = (ylo + yhi) / 2;
  const position = new THREE.Vector3().addScaledVector(r, X).addScaledVector(u, Y).addScaledVector(f, Z);
  const target = position.clone().addScaledVector(f, (cMin + cMax) / 2 - Z);
  return { position, target };
}

/**
 * The largest part of `canvas` that `obstacles` (panels over it) leave free: each obstacle
 * that overlaps is cut off along the side that keeps the most area. Obstacles that would
 * leave less than `minShare` of the canvas (a sheet over nearly all of it) are
 * ignored rather than framing the map into a sliver.
 */
export function freeRect(canvas: Rect, obstacles: Rect[], minShare = 0.2): Rect {
  const area = (r: Rect) => Math.max(0, r.right - r.left) * Math.max(0, r.bottom - r.top);
  const whole = area(canvas);
  let free = { ...canvas };
  const sorted = [...obstacles].sort((p, q) => area(q) - area(p));
  for (const o of sorted) {
    if (o.right <= free.left || o.left >= free.right || o.bottom <= free.top || o.top >= free.bottom) continue;
    const options: Rect[] = [
      { ...free, top: Math.max(free.top, o.bottom) },
      { ...free, bottom: Math.min(free.bottom, o.top) },
      { ...free, left: Math.max(free.left, o.right) },
      { ...free, right: Math.min(free.right, o.left) },
    ];
    const best = options.reduce((p, q) => (area(q) > area(p) ? q : p));
    if (area(best) >= minShare * whole) free = best;
  }
  return free;
}

/** A rectangle shrunk by `pad` pixels on every side (never inside out). */
export function inset(r: Rect, pad: number): Rect {
  const w = Math.max(0, r.right - r.left), h = Math.max(0, r.bottom - r.top);
  const px = Math.min(pad, w * 0.2), py = Math.min(pad, h * 0.2);
  return { left: r.left + px, top: r.top + py, right: r.right - px, bottom: r.bottom - py };
}
