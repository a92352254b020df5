import { describe, expect, it } from "vitest";
import { forceManyBody, forceSimulation, type SimNode } from "d3-force-3d";
import { manyBody } from "../src/layout/manyBody";

function cloud(n: number, seed: number): SimNode[] {
  let s = seed;
  const random = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  // Clusters of different density, as namespaces are, and a few far strays.
  return Array.from({ length: n }, (_, i) => {
    const spread = i % 10 === 0 ? 900 : 120;
    const centre = (i % 5) * 150;
    return { id: String(i), x: centre + (random() - 0.5) * spread, y: (random() - 0.5) * spread, z: (random() - 0.5) * spread, vx: 0, vy: 0, vz: 0 };
  });
}

function push(nodes: SimNode[], force: ReturnType<typeof manyBody>, alpha: number): SimNode[] {
  forceSimulation(nodes, 3).force("charge", force).stop();
  force(alpha);
  return nodes;
}

describe("manyBody", () => {
  it("pushes as d3-force-3d's forceManyBody does, with its octree and its cut-offs", () => {
    for (const [theta, distanceMax] of [[1.2, 400], [0.9, Infinity]]) {
      const ours = push(cloud(3000, 7), manyBody(-30, theta, distanceMax), 0.4);
      const d3 = cloud(3000, 7);
      const theirs = forceManyBody().strength(-30).theta(theta).distanceMax(distanceMax);
      forceSimulation(d3, 3).force("charge", theirs).stop();
      theirs(0.4);
      let largest = 0;
      d3.forEach((node, i) => {
        largest = Math.max(largest, Math.abs(node.vx!));
        for (const axis of ["vx", "vy", "vz"] as const) expect(ours[i][axis]).toBeCloseTo(node[axis]!, 9);
      });
      expect(largest).toBeGreaterThan(1); // the forces compared are not all nought
    }
  });

  it("pushes coincident nodes apart, and a node alone not at all", () => {
    const pair = push([{ id: "a", x: 5, y: 5, z: 5, vx: 0, vy: 0, vz: 0 }, { id: "b", x: 5, y: 5, z: 5, vx: 0, vy: 0, vz: 0 }], manyBody(-30, 1.2), 1);
    for (const node of pair) expect([node.vx, node.vy, node.vz].every(Number.isFinite)).toBe(true);
    expect(pair[0].vx).not.toBe(0);
    expect(Math.sign(pair[0].vx!)).toBe(-Math.sign(pair[1].vx!));
    const alone = push([{ id: "a", x: 1, y: 2, z: 3, vx: 0, vy: 0, vz: 0 }], manyBody(-30, 1.2), 1);
    expect(alone[0].vx).toBe(0);
  });
});
