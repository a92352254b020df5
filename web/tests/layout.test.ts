import { describe, expect, it } from "vitest";
import { forceManyBody, type SimNode } from "d3-force-3d";
import { LayoutEngine, alphaDecay, chargeEvery, pushOn, sparse } from "../src/layout/engine";

function grid(n: number) {
  const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, group: `ns${i % 3}`, kind: "pod" }));
  const links = nodes.slice(1).map((node, i) => ({ id: `l${i}`, source: `n${Math.floor(i / 3)}`, target: node.id }));
  return { nodes, links };
}

function settle(engine: LayoutEngine) {
  for (let i = 0; i < 2000 && engine.tick(); i++);
}

describe("LayoutEngine", () => {
  it("settles, and on a small map too a newcomer is settled locally: next to its owner, the others still", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(60);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    expect(engine.tick()).toBe(false);
    const before = nodes.map((n) => engine.position(n.id)!);
    // One node among 60 (3 % of the map): a whole reheat under churn of a few a second
    // would keep a small map moving without end.
    engine.sync({ addNodes: [{ id: "new", near: "n5", group: "ns2", kind: "pod" }], removeNodes: [], addLinks: [{ id: "lx", source: "n5", target: "new" }], removeLinks: [] });
    expect(engine.tick()).toBe(false);
    nodes.forEach((n, i) => expect(engine.position(n.id)).toEqual(before[i]));
    // The newcomer stands about as far from its owner as the owner's other children.
    const owner = engine.position("n5")!;
    const from = (p: number[]) => Math.hypot(p[0] - owner[0], p[1] - owner[1], p[2] - owner[2]);
    const siblings = ["n16", "n17", "n18"].map((id) => from(engine.position(id)!));
    const placed = from(engine.position("new")!);
    expect(placed).toBeGreaterThan(Math.min(...siblings) * 0.5);
    expect(placed).toBeLessThan(Math.max(...siblings) * 2);
  });

  it("reflows a small map for a change to more than a few of its nodes", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(60);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    const more = Array.from({ length: 7 }, (_, i) => ({ id: `m${i}`, near: "n3", group: "ns0", kind: "pod" }));
    engine.sync({ addNodes: more, removeNodes: [], addLinks: more.map((m, i) => ({ id: `lm${i}`, source: "n3", target: m.id })), removeLinks: [] });
    expect(engine.tick()).toBe(true);
  });

  it("once cooled, settles a pod replaced among many locally: it alone moves, and nothing ticks after", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(400);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    const before = new Map(nodes.map((n) => [n.id, engine.position(n.id)!]));
    // n8's child n25 is replaced by a new one (a rolling update): 1 node and 1 link each way.
    engine.sync({
      addNodes: [{ id: "new", near: "n8", group: "ns1", kind: "pod" }], removeNodes: ["n25"],
      addLinks: [{ id: "lx", source: "n8", target: "new" }], removeLinks: ["l24"],
    });
    // Settled at once: the whole map does not tick again...
    expect(engine.tick()).toBe(false);
    // ...no other node moved...
    for (const n of nodes) if (n.id !== "n25") expect(engine.position(n.id)).toEqual(before.get(n.id));
    // ...and the newcomer stands at about a link's length from its owner, not on it, as the
    // node it replaced did.
    const owner = engine.position("n8")!, placed = engine.position("new")!, old = before.get("n25")!;
    const from = (p: number[]) => Math.hypot(p[0] - owner[0], p[1] - owner[1], p[2] - owner[2]);
    expect(from(placed)).toBeGreaterThan(from(old) * 0.5);
    expect(from(placed)).toBeLessThan(from(old) * 2);
    expect(placed.every(Number.isFinite)).toBe(true);
  });

  it("relaxes the whole map once a tenth of it was settled locally, and so keeps its shape under churn", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(400);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    const shape = () => {
      const radii = nodes.map((_, i) => Math.hypot(...engine.position(current[i])!)).sort((a, b) => a - b);
      const lengths = links.map((_, i) => {
        const [a, b] = [engine.position(current[parent[i]])!, engine.position(current[i + 1])!];
        return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
      }).sort((a, b) => a - b);
      return { radius: radii[200], link: lengths[200] };
    };
    // Node i's id now (leaves are replaced), and the parent of node i + 1.
    const current = nodes.map((n) => n.id);
    const parent = links.map((l) => Number(l.source.slice(1)));
    const settled = shape();
    const leaves = current.map((_, i) => i).filter((i) => i > 133);
    const linkOf = current.map((_, i) => `l${i - 1}`);
    const replace = (i: number) => {
      const id = `${current[i]}+`, owner = current[parent[i - 1]];
      engine.sync({
        addNodes: [{ id, near: owner, group: nodes[i].group, kind: "pod" }], removeNodes: [current[i]],
        addLinks: [{ id: `l${id}`, source: owner, target: id }], removeLinks: [linkOf[i]],
      });
      current[i] = id;
      linkOf[i] = `l${id}`;
    };
    // Each settled locally; the 41st newcomer (over a tenth of 400) moves the whole map.
    for (const i of leaves.slice(0, 40)) { replace(i); expect(engine.tick()).toBe(false); }
    replace(leaves[40]);
    expect(engine.tick()).toBe(true);
    settle(engine);
    // Every leaf replaced twice: the map as wide, its links as long, as when it settled.
    for (const i of [...leaves.slice(41), ...leaves, ...leaves]) { replace(i); settle(engine); }
    const after = shape();
    expect(after.radius / settled.radius).toBeGreaterThan(0.85);
    expect(after.radius / settled.radius).toBeLessThan(1.15);
    expect(after.link / settled.link).toBeGreaterThan(0.85);
    expect(after.link / settled.link).toBeLessThan(1.15);
  });

  it("reflows the whole map for a bigger change; a small one neither reheats nor stops it", () => {
    const engine = new LayoutEngine();
    const { nodes, links } = grid(400);
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    const more = Array.from({ length: 10 }, (_, i) => ({ id: `m${i}`, near: "n3", group: "ns0", kind: "pod" }));
    engine.sync({ addNodes: more, removeNodes: [], addLinks: more.map((m, i) => ({ id: `lm${i}`, source: "n3", target: m.id })), removeLinks: [] });
    expect(engine.tick()).toBe(true); // 20 changes among 410 nodes: more than 1 %
    for (let i = 0; i < 5; i++) engine.tick();
    const warm = engine.alpha;
    engine.sync({ addNodes: [{ id: "new", near: "n7", group: "ns1", kind: "pod" }], removeNodes: [], addLinks: [{ id: "lx", source: "n7", target: "new" }], removeLinks: [] });
    expect(engine.alpha).toBe(warm); // placed locally, and the map settles on as it was
    expect(engine.tick()).toBe(true);
  });

  it("starts a first map spread through a volume as wide as the settled map, not piled at a few anchors", () => {
    const engine = new LayoutEngine();
    // 3,000 nodes in 12 groups, each pod next to one of its group's deployments.
    const nodes = Array.from({ length: 3000 }, (_, i) => ({
      id: `n${i}`, group: `ns${i % 12}`, kind: i < 600 ? "deployment" : "pod",
      near: i < 600 ? undefined : `n${i % 600}`,
    }));
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: [], removeLinks: [] });
    const at = nodes.map((n) => engine.position(n.id)!);
    const centre = [0, 1, 2].map((k) => at.reduce((sum, p) => sum + p[k], 0) / at.length);
    const radii = at.map((p) => Math.hypot(p[0] - centre[0], p[1] - centre[1], p[2] - centre[2])).sort((a, b) => a - b);
    // As wide as a settled map of this size (links 14 long): not a pile a few units across.
    expect(radii[Math.floor(radii.length / 2)]).toBeGreaterThan(80);
    // Each group has a place of its own: its members' centre apart from the others'.
    const groupCentre = (g: number) => [0, 1, 2].map((k) => {
      const members = at.filter((_, i) => i % 12 === g);
      return members.reduce((sum, p) => sum + p[k], 0) / members.length;
    });
    const a = groupCentre(0), b = groupCentre(6);
    expect(Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2])).toBeGreaterThan(50);
    // A node with an owner starts next to it.
    const pod = engine.position("n1234")!, owner = engine.position("n34")!;
    expect(Math.hypot(pod[0] - owner[0], pod[1] - owner[1], pod[2] - owner[2])).toBeLessThan(15);
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

  it("pushes every tick on small maps, and every second or third tick, as much harder, on big ones", () => {
    expect([1000, 3000, 3001, 6000, 6001, 50000].map(chargeEvery)).toEqual([1, 1, 2, 2, 3, 3]);
    const calls: number[] = [];
    let every = 3;
    const force = sparse((alpha: number) => { calls.push(alpha); }, () => every);
    for (let i = 0; i < 9; i++) force(0.5);
    expect(calls).toEqual([1.5, 1.5, 1.5]); // the same push in all, over nine ticks
    every = 1;
    calls.length = 0;
    for (let i = 0; i < 4; i++) force(0.5);
    expect(calls).toEqual([0.5, 0.5, 0.5, 0.5]);
  });

  it("cools a big map in two thirds of the ticks", () => {
    expect([3000, 3001].map(alphaDecay)).toEqual([0.03, 0.045]);
    for (const [size, decay] of [[3000, 0.03], [3001, 0.045]]) {
      const engine = new LayoutEngine();
      const { nodes, links } = grid(size);
      engine.sync({ addNodes: nodes, removeNodes: [], addLinks: links, removeLinks: [] });
      engine.tick();
      expect(engine.alpha).toBeCloseTo(1 - decay, 9); // a tick takes alpha from 1 towards 0 by that share
    }
  });

  it("pushes a local settle's moving nodes as d3's many-body does, and no other", () => {
    const at = (id: string, x: number, y: number, z: number): SimNode => ({ id, x, y, z, vx: 0, vy: 0, vz: 0 });
    const scene = () => [at("a", 0, 0, 0), at("b", 10, 2, -3), at("c", -4, 7, 1), at("d", 0.2, 0.1, 0.3), at("e", 30, -20, 5)];
    const ours = scene(), theirs = scene();
    const push = pushOn(new Set(["a", "d"]), -30);
    push.initialize!(ours);
    push(0.5);
    // d3's without its approximation (theta 0): every pair exactly.
    const d3 = forceManyBody<SimNode>().strength(-30).theta(0);
    d3.initialize!(theirs, () => 0.5, 3);
    d3(0.5);
    for (const i of [0, 3]) {
      for (const v of ["vx", "vy", "vz"] as const) expect(ours[i][v]).toBeCloseTo(theirs[i][v]!, 9);
      expect(Math.hypot(ours[i].vx!, ours[i].vy!, ours[i].vz!)).toBeGreaterThan(0);
    }
    for (const i of [1, 2, 4]) expect([ours[i].vx, ours[i].vy, ours[i].vz]).toEqual([0, 0, 0]);
  });

  it("lifts code above what runs it while both are on the map, and not when the code is alone", () => {
    const engine = new LayoutEngine();
    const runs = Array.from({ length: 40 }, (_, i) => ({ id: `p${i}`, group: "host", kind: "process" }));
    const code = Array.from({ length: 40 }, (_, i) => ({ id: `m${i}`, group: "repo", kind: "module" }));
    const links = runs.map((p, i) => ({ id: `l${i}`, source: p.id, target: code[i].id }));
    const meanY = (ids: { id: string }[]) => ids.reduce((sum, n) => sum + engine.position(n.id)![1], 0) / ids.length;
    engine.sync({ addNodes: code, removeNodes: [], addLinks: [], removeLinks: [] });
    settle(engine);
    expect(Math.abs(meanY(code))).toBeLessThan(5);
    engine.sync({ addNodes: [...runs, ...code], removeNodes: [], addLinks: links, removeLinks: [] });
    settle(engine);
    const lifted = meanY(code);
    expect(lifted - meanY(runs)).toBeGreaterThan(15);
    // What runs it goes (the code synced again as it is): the code alone is not lifted.
    engine.sync({ addNodes: code, removeNodes: runs.map((p) => p.id), addLinks: [], removeLinks: links.map((l) => l.id) });
    engine.setPreset("kind");
    engine.setPreset("force");
    settle(engine);
    expect(meanY(code)).toBeLessThan(lifted * 0.75);
  });
});
