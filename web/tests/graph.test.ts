import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { Delta, Topology, TopologyChange } from "../src/api/types";
import { GraphStore } from "../src/state/graph";
import { readFrames } from "./sse";

const frames = readFrames("topology-stream.sse");
const snapshot = JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology;
const deltas = frames.filter((f) => f.event === "delta").map((f) => JSON.parse(f.data) as Delta);

describe("GraphStore", () => {
  it("loads a recorded snapshot", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    expect(store.entities.size).toBe(snapshot.entities.length);
    expect(store.edges.size).toBe(snapshot.connections.length);
    expect(store.version).toBe(snapshot.version);
  });

  it("applies recorded deltas in order: removals go, new pods arrive", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    for (const delta of deltas) expect(store.applyDelta(delta)).toBe("applied");
    expect(store.version).toBe(deltas[deltas.length - 1].version);
    const removed = deltas.flatMap((d) => d.removals ?? []);
    const added = deltas.flatMap((d) => d.upserts ?? []).map((e) => e.id);
    expect(removed.length).toBeGreaterThan(0);
    for (const id of removed) if (!added.includes(id)) expect(store.entities.has(id)).toBe(false);
    for (const id of added) expect(store.entities.has(id)).toBe(true);
    // Every edge still has both ends.
    for (const edge of store.edges.values()) {
      expect(store.entities.has(edge.source_id) && store.entities.has(edge.target_id)).toBe(true);
    }
  });

  it("mutates entities in place by id, dropping fields the upsert leaves out", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const before = store.entities.get(snapshot.entities[0].id)!;
    const { cpu_percent: _, ...rest } = { ...before, cpu_percent: 1 };
    const upsert = { ...rest, status: "failed", health_status: "critical" as const };
    store.applyDelta({ version: store.version + 1, timestamp: 1, upserts: [upsert] });
    const after = store.entities.get(before.id)!;
    expect(after).toBe(before); // the same object
    expect(after.status).toBe("failed");
    expect("cpu_percent" in after).toBe(false);
  });

  it("reports a gap and ignores old versions", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const v = store.version;
    expect(store.applyDelta({ version: v + 2, timestamp: 1, removals: [snapshot.entities[0].id] })).toBe("gap");
    expect(store.entities.has(snapshot.entities[0].id)).toBe(true);
    expect(store.applyDelta({ version: v, timestamp: 1 })).toBe("stale");
    expect(store.version).toBe(v);
  });

  it("records per-delta timings and stamps them when rendered", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    store.applyDelta(deltas[0], 1000);
    const t = store.timings[0];
    expect(t.version).toBe(deltas[0].version);
    expect(t.observed_at).toBeCloseTo(deltas[0].observed_at! * 1000, 3);
    expect(t.received_at).toBe(1000);
    expect(t.applied_at).toBeGreaterThan(1000);
    expect(t.rendered_at).toBeNull();
    store.markRendered(t.applied_at + 5);
    expect(t.rendered_at).toBe(t.applied_at + 5);
  });

  it("counts only comings, goings and regroupings as structural", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const entity = store.entities.get(snapshot.entities[0].id)!;
    const structure = store.structure;
    store.applyDelta({ version: store.version + 1, timestamp: 1, upserts: [{ ...entity, status: "failed" }] });
    expect(store.structure).toBe(structure); // a field change restyles only
    store.applyDelta({ version: store.version + 1, timestamp: 1, upserts: [{ ...entity, namespace: "elsewhere" }] });
    expect(store.structure).toBe(structure + 1);
    store.applyDelta({ version: store.version + 1, timestamp: 1, upserts: [{ ...entity, id: "pod:new" }] });
    expect(store.structure).toBe(structure + 2);
    store.applyDelta({ version: store.version + 1, timestamp: 1, removals: ["pod:new"] });
    expect(store.structure).toBe(structure + 3);
  });

  it("counts a snapshot as structural only when something came, went or regrouped", () => {
    // Scrubbing applies one snapshot per moment; moments close together differ in fields.
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const structure = store.structure;
    const [first, ...others] = snapshot.entities;
    store.applySnapshot({ ...snapshot, entities: [{ ...first, status: "failed" }, ...others] });
    expect(store.structure).toBe(structure); // a field change restyles only
    expect(store.entities.get(first.id)!.status).toBe("failed");
    const kept = snapshot.connections.filter((c) => c.source_id !== first.id && c.target_id !== first.id);
    store.applySnapshot({ ...snapshot, entities: others, connections: kept });
    expect(store.structure).toBe(structure + 1); // one went
    expect(store.entities.has(first.id)).toBe(false);
    expect(store.edges.size).toBe(kept.length);
    store.applySnapshot(snapshot);
    expect(store.structure).toBe(structure + 2); // it came back
    store.applySnapshot({ ...snapshot, connections: snapshot.connections.slice(1) });
    expect(store.structure).toBe(structure + 3); // an edge went
  });

  it("stamps rendered_at only on deltas the rendered view was built from", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const shown = store.version + 1;
    store.applyDelta({ version: shown, timestamp: 1 });
    store.applyDelta({ version: shown + 1, timestamp: 1 });
    store.markRendered(500, shown);
    expect(store.timings.map((t) => t.rendered_at)).toEqual([500, null]);
    expect(store.hasUnrendered).toBe(true);
    store.markRendered(600);
    expect(store.timings.map((t) => t.rendered_at)).toEqual([500, 600]);
    expect(store.hasUnrendered).toBe(false);
  });

  it("stamps a scrubbed moment rendered only by a frame built from it; one replaced first never is", () => {
    const store = new GraphStore();
    store.applySnapshot({ ...snapshot, at: 100 }, 10);
    const first = store.revision;
    store.applySnapshot({ ...snapshot, version: snapshot.version - 1, at: 90 }, 20);
    store.markRendered(30, snapshot.version, first); // a frame still built from the first
    expect(store.snapshots.map((t) => t.rendered_at)).toEqual([null, null]);
    store.markRendered(40);
    expect(store.snapshots.map((t) => [t.at, t.asked_at, t.rendered_at])).toEqual([[100, 10, null], [90, 20, 40]]);
    store.markRendered(50);
    expect(store.snapshots[1].rendered_at).toBe(40); // the first frame that showed it
  });

  it("merges metrics frames without changing the version", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const frame = JSON.parse(frames.find((f) => f.event === "metrics")!.data);
    const [id, values] = Object.entries(frame.values)[0] as [string, Record<string, number>];
    const object = store.entities.get(id)!;
    store.applyMetrics({ ...frame, values: { [id]: { ...values, cpu_percent: 77.5 } } });
    expect(store.entities.get(id)).toBe(object);
    expect(object.cpu_percent).toBe(77.5);
    expect(store.version).toBe(snapshot.version);
  });

  it("a resync replaces everything but keeps objects of ids that stay", () => {
    const store = new GraphStore();
    store.applySnapshot(snapshot);
    const keep = store.entities.get(snapshot.entities[0].id)!;
    const smaller: Topology = { ...snapshot, version: snapshot.version + 10, entities: snapshot.entities.slice(0, 3), connections: [] };
    store.applySnapshot(smaller);
    expect(store.entities.size).toBe(3);
    expect(store.edges.size).toBe(0);
    expect(store.entities.get(keep.id)).toBe(keep);
    expect(store.removedSinceRender.length).toBe(snapshot.entities.length - 3);
  });

  // Two past moments of a real server and the changes between them (`?at=&since=`,
  // scripts/capture-moments.py): what scrubbing applies instead of a whole topology.
  const moments = JSON.parse(readFileSync(new URL("./fixtures/topology-moments.json", import.meta.url), "utf8")) as {
    before: Topology; after: Topology; forward: TopologyChange; backward: TopologyChange;
  };
  const holds = (store: GraphStore, topology: Topology) => {
    expect(Object.fromEntries(store.entities)).toEqual(Object.fromEntries(topology.entities.map((e) => [e.id, e])));
    expect(Object.fromEntries(store.edges)).toEqual(Object.fromEntries(topology.connections.map((c) => [c.id, c])));
    expect(store.version).toBe(topology.version);
    expect(store.summary).toEqual(topology.summary);
  };

  it("a change between two moments turns the map at one into the map at the other, objects kept", () => {
    expect(moments.forward.upserts!.length + moments.forward.removals!.length).toBeGreaterThan(0);
    const store = new GraphStore();
    store.applySnapshot(moments.before);
    const stays = moments.after.entities.find((e) => store.entities.has(e.id))!;
    const kept = store.entities.get(stays.id);
    const structure = store.structure;
    expect(store.applyChange(moments.forward, 5)).toBe(true);
    holds(store, moments.after);
    expect(store.entities.get(stays.id)).toBe(kept);
    expect(store.structure).toBe(structure + 1); // pods were replaced
    expect(store.snapshots.at(-1)).toMatchObject({ version: moments.after.version, at: moments.after.at, asked_at: 5 });
    expect(store.applyChange(moments.backward)).toBe(true);
    holds(store, moments.before);
  });

  it("refuses a change that does not start from the version held, changing nothing", () => {
    const store = new GraphStore();
    store.applySnapshot(moments.after);
    const revision = store.revision;
    expect(store.applyChange(moments.forward)).toBe(false);
    holds(store, moments.after);
    expect(store.revision).toBe(revision);
  });
});
