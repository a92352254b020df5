import * as THREE from "three";
import { describe, expect, it } from "vitest";
import { fitPoints, freeRect, inset, type Rect } from "../src/scene/framing";

const lens = { fovY: (50 * Math.PI) / 180, width: 1440, height: 848 };

function project(pose: { position: THREE.Vector3; target: THREE.Vector3 }, p: number[]): { x: number; y: number } {
  const camera = new THREE.PerspectiveCamera(50, lens.width / lens.height, 0.5, 1e6);
  camera.position.copy(pose.position);
  camera.lookAt(pose.target);
  camera.updateMatrixWorld();
  const v = new THREE.Vector3(p[0], p[1], p[2]).project(camera);
  return { x: ((v.x + 1) / 2) * lens.width, y: ((1 - v.y) / 2) * lens.height };
}

// A map's worth of points: a blob, a far stray at the top (like the "By kind" volumes).
function cloud(): number[] {
  let s = 7;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
  const out: number[] = [];
  for (let i = 0; i < 500; i++) out.push(rnd() * 300 + 40, rnd() * 200, rnd() * 250 - 30);
  out.push(0, 420, 0);
  return out;
}

describe("fitPoints", () => {
  it("puts every point inside the free part of the canvas, and fills it", () => {
    const points = cloud();
    const free: Rect = { left: 20, top: 90, right: 1020, bottom: 780 };
    const forward = new THREE.Vector3(0, -140, -360).normalize();
    const pose = fitPoints(points, forward, new THREE.Vector3(0, 1, 0), lens, free)!;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (let i = 0; i < points.length; i += 3) {
      const { x, y } = project(pose, points.slice(i, i + 3));
      minX = Math.min(minX, x); maxX = Math.max(maxX, x); minY = Math.min(minY, y); maxY = Math.max(maxY, y);
    }
    expect(minX).toBeGreaterThanOrEqual(free.left - 0.5);
    expect(maxX).toBeLessThanOrEqual(free.right + 0.5);
    expect(minY).toBeGreaterThanOrEqual(free.top - 0.5);
    expect(maxY).toBeLessThanOrEqual(free.bottom + 0.5);
    // Tight: one of the two axes touches both of its sides.
    const fillsX = maxX - minX > (free.right - free.left) * 0.98;
    const fillsY = maxY - minY > (free.bottom - free.top) * 0.98;
    expect(fillsX || fillsY).toBe(true);
    // The camera looks along `forward` and its target is on that axis.
    const axis = pose.target.clone().sub(pose.position).normalize();
    expect(axis.dot(forward)).toBeCloseTo(1, 6);
  });

  it("keeps its distance from a single point, and gives up on nothing", () => {
    const pose = fitPoints([5, 5, 5], new THREE.Vector3(0, 0, -1), new THREE.Vector3(0, 1, 0), lens, { left: 0, top: 0, right: 1440, bottom: 848 }, 80)!;
    expect(pose.position.distanceTo(new THREE.Vector3(5, 5, 5))).toBeCloseTo(80, 3);
    expect(fitPoints([], new THREE.Vector3(0, 0, -1), new THREE.Vector3(0, 1, 0), lens, { left: 0, top: 0, right: 10, bottom: 10 })).toBeNull();
  });
});

describe("freeRect", () => {
  const canvas: Rect = { left: 0, top: 0, right: 1040, bottom: 848 };

  it("cuts each panel off along the side that keeps the most map", () => {
    const health = { left: 12, top: 12, right: 246, bottom: 120 };
    const legend = { left: 12, top: 640, right: 455, bottom: 836 };
    const free = freeRect(canvas, [health, legend]);
    expect(free).toEqual({ left: 0, top: 120, right: 1040, bottom: 640 });
  });

  it("ignores panels beside the canvas and one that would leave a sliver", () => {
    expect(freeRect(canvas, [{ left: 1040, top: 0, right: 1400, bottom: 848 }])).toEqual(canvas);
    expect(freeRect(canvas, [{ left: 0, top: 60, right: 1040, bottom: 848 }])).toEqual(canvas);
  });

  it("insets without turning inside out", () => {
    expect(inset({ left: 0, top: 0, right: 100, bottom: 50 }, 30)).toEqual({ left: 20, top: 10, right: 80, bottom: 40 });
  });
});
