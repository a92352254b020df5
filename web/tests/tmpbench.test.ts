// @vitest-environment jsdom
import { it } from "vitest";
import type { Delta, Topology } from "../src/api/types";
import type { LayoutClient } from "../src/layout/client";
import { SOFTWARE_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { readFrames } from "./sse";
const unplaced = { revision: 0, ids: [], positions: new Float32Array(0), index: new Map(), read: () => false } as unknown as LayoutClient;
it("bench", () => {
  const frames = readFrames("topology-stream.sse");
  const snap = JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology;
  const K = Math.ceil(10000 / snap.entities.length);
  const s = (x: string, k: number) => `${x}~${k}`;
  const big = { ...snap, entities: [] as any[], connections: [] as any[] };
  for (let k = 0; k < K; k++) {
    for (const e of snap.entities) big.entities.push({ ...e, id: s(e.id, k), namespace: e.namespace ? `${e.namespace}${k}` : e.namespace });
    for (const c of snap.connections) big.connections.push({ ...c, id: s(c.id, k), source_id: s(c.source_id, k), target_id: s(c.target_id, k) });
  }
  const store = new GraphStore();
  store.applySnapshot(big as Topology);
  const builder = new ViewBuilder();
  const sg = new SceneGraph(SOFTWARE_OPTIONS);
  let view = builder.build(store, EMPTY_FILTERS, 20000, new Set());
  store.takeRestyled();
  sg.setView(view, [], unplaced, null);
  console.log("nodes", view.nodes.length, "edges", view.edges.length);
  const acc = new Map<number, number>();
  let total = 0;
  for (let r = 0; r < 30; r++) {
    // a pod replaced: one removed, one added
    const victim = big.entities[(r * 37) % big.entities.length];
    const fresh = { ...victim, id: victim.id + "/r" + r };
    const delta = { version: store.version + 1, upserts: [fresh], removals: [victim.id], edge_upserts: [], edge_removals: [] } as unknown as Delta;
    store.applyDelta(delta);
    const t0 = performance.now();
    view = builder.build(store, EMPTY_FILTERS, 20000, new Set());
    const t1 = performance.now();
    (globalThis as any).__t = [[-1, t1]];
    sg.setView(view, store.removedSinceRender.splice(0), unplaced, store.takeRestyled());
    const t = (globalThis as any).__t as [number, number][];
    for (let i = 1; i < t.length; i++) acc.set(t[i][0], (acc.get(t[i][0]) ?? 0) + t[i][1] - t[i - 1][1]);
    total += performance.now() - t0;
    acc.set(-2, (acc.get(-2) ?? 0) + t1 - t0);
  }
  const pl = (sg as any).particles;
  const tp = performance.now();
  for (let r = 0; r < 30; r++) pl.rebuild(sg);
  console.log("particles.rebuild ms", ((performance.now() - tp) / 30).toFixed(2), "count", pl.particleCount);
  const ta = performance.now();
  for (let r = 0; r < 30; r++) (sg as any).applyHighlight();
  console.log("applyHighlight ms", ((performance.now() - ta) / 30).toFixed(2));
  console.log("per rebuild ms", (total / 30).toFixed(2), "build", ((acc.get(-2) ?? 0) / 30).toFixed(2));
  for (const [k, v] of [...acc].sort((a, b) => a[0] - b[0])) console.log(k, (v / 30).toFixed(2));
});
