import { describe, expect, it } from "vitest";
import { LayoutEngine } from "../src/layout/engine";

function grid(n: number) {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, group: `ns${i % 3}`, kind: "pod" }));
  const links = nodes.slice(1).map((node, i) => ({ id: `l${i}`, source: `n${Math.floor(i / 3)}`, target: node.id }));
  return { nodes, links };
}

function settle(engine: LayoutEngine) {
  for (let i = 0; i < 2000 && engine.tick(); i++);
}

describe("LayoutEngine", () => {
  it("settles, and existing nodes keep their place when one arrives", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(60);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    expect(engine.tick()).toBe(false);
    const before = nodes.map((n) => engine.position(n.id)!);
    engine.sync({ addNodes: [{ id: "new", near: "n5", group: "ns2", kind: "pod" }], removeNodes: [], addLinks: [{ id: "lx", source: "n5", target: "new" }], removeLinks: [] });
    // The newcomer starts next to its owner...
    const owner = engine.position("n5")!;
    const start = engine.position("new")!;
    expect(Math.hypot(start[0] - owner[0], start[1] - owner[1], start[2] - owner[2])).toBeLessThan(15);
    // ...and the others barely move (warm start, gentle reheat).
    settle(engine);
    const span = Math.max(...before.map((p) => Math.hypot(...p)));
    const moved = nodes.map((n, i) => {
      const p = engine.position(n.id)!;
      return Math.hypot(p[0] - before[i][0], p[1] - before[i][1], p[2] - before[i][2]);
    });
    const mean = moved.reduce((a, b) => a + b, 0) / moved.length;
    expect(mean).toBeLessThan(span * 0.1);
  });

  it("drops removed nodes and their links", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(10);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    engine.sync({ addNodes: [], removeNodes: ["n9"], addLinks: [], removeLinks: [] });
    expect(engine.ids()).not.toContain("n9");
    expect(engine.positions().length).toBe(9 * 3);
    settle(engine); // a link to a removed node must not break the simulation
    expect(engine.position("n0")!.every(Number.isFinite)).toBe(true);
  });

  it("separates kinds into layers with the by-kind preset", () => {
    const engine = new LayoutEngine();
    const nodes = Array.from({ length: 40 }, (_, i) => ({ id: `n${i}`, group: "a", kind: i % 2 ? "pod" : "service" }));
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: [], removeLinks: [] });
    engine.setPreset("kind");
    settle(engine);
    const y = (kind: string) => nodes.filter((n) => n.kind === kind).map((n) => engine.position(n.id)![1]);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(Math.abs(mean(y("pod")) - mean(y("service")))).toBeGreaterThan(30);
  });
});
