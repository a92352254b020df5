import { describe, expect, it } from "vitest";
import type { Delta, Topology } from "../src/api/types";
import { type EventSourceLike, TopologyStream } from "../src/live/topologyStream";
import { GraphStore } from "../src/state/graph";
import { readFrames } from "./sse";

/** An EventSource driven by the test: the recorded frames are pushed through it. */
class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void { this.closed = true; this.readyState = 2; }
  open(): void { this.readyState = 1; this.onopen?.(new Event("open")); }
  emit(event: string, data: unknown, lastEventId = ""): void {
    for (const l of this.listeners.get(event) ?? []) l({ data: JSON.stringify(data), lastEventId } as MessageEvent);
  }
  fail(): void { this.onerror?.(new Event("error")); }
}

const frames = readFrames("topology-stream.sse");
const snapshot = JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology;
const deltas = frames.filter((f) => f.event === "delta").map((f) => JSON.parse(f.data) as Delta);

function setup() {
  const store = new GraphStore();
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const statuses: string[] = [];
  const stream = new TopologyStream(store, {
    url: "/api/infra/topology/stream",
    open: (url) => { const s = new FakeSource(url); sources.push(s); return s; },
    onStatus: (s) => statuses.push(s),
    setTimer: (fn) => timers.push(fn),
  });
  stream.start();
  return { store, stream, sources, timers, statuses };
}

describe("TopologyStream", () => {
  it("applies a snapshot then deltas and reports live", () => {
    const { store, sources, statuses } = setup();
    sources[0].open();
    sources[0].emit("snapshot", snapshot);
    for (const d of deltas) sources[0].emit("delta", d);
    expect(store.version).toBe(deltas[deltas.length - 1].version);
    expect(statuses).toContain("live");
    expect(sources[0].url).toBe("/api/infra/topology/stream");
  });

  it("resumes from the applied version after a drop", () => {
    const { store, stream, sources, timers, statuses } = setup();
    sources[0].open();
    sources[0].emit("snapshot", snapshot);
    sources[0].emit("delta", deltas[0]);
    sources[0].fail();
    expect(sources[0].closed).toBe(true);
    expect(statuses[statuses.length - 1]).toBe("reconnecting");
    timers.shift()!();
    expect(sources[1].url).toBe(`/api/infra/topology/stream?last_event_id=${deltas[0].version}`);
    // The server replays the rest from its ring.
    sources[1].open();
    for (const d of deltas.slice(1)) sources[1].emit("delta", d);
    expect(store.version).toBe(deltas[deltas.length - 1].version);
    expect(stream.connects).toBe(2);
    expect(statuses[statuses.length - 1]).toBe("live");
  });

  it("reconnects on a version gap instead of applying out of order", () => {
    const { store, stream, sources, timers } = setup();
    sources[0].open();
    sources[0].emit("snapshot", snapshot);
    sources[0].emit("delta", deltas[1]); // deltas[0] was lost
    expect(store.version).toBe(snapshot.version);
    expect(stream.gaps).toBe(1);
    expect(sources[0].closed).toBe(true);
    timers.shift()!();
    expect(sources[1].url).toContain(`last_event_id=${snapshot.version}`);
  });

  it("resumes with the change log's id, so another server's log answers with a snapshot", () => {
    // Recorded from a server that names its log in each id: `<log id>:<version>`.
    const logged = readFrames("topology-stream-logged.sse");
    const first = logged.find((f) => f.event === "snapshot")!;
    const next = logged.filter((f) => f.event === "delta");
    const logId = first.id!.slice(0, first.id!.lastIndexOf(":"));
    expect(logId).toMatch(/^[0-9a-f]{16}$/);
    const { store, stream, sources, timers } = setup();
    sources[0].open();
    sources[0].emit("snapshot", JSON.parse(first.data), first.id!);
    for (const d of next) sources[0].emit("delta", JSON.parse(d.data), d.id!);
    sources[0].fail();
    timers.shift()!();
    expect(stream.logId).toBe(logId);
    expect(sources[1].url).toBe(
      `/api/infra/topology/stream?last_event_id=${encodeURIComponent(`${logId}:${store.version}`)}`);
    // Another server (another log) answers with its snapshot: from then on, its log.
    sources[1].open();
    sources[1].emit("snapshot", snapshot, "0123456789abcdef:" + snapshot.version);
    sources[1].fail();
    timers.shift()!();
    expect(sources[2].url).toContain(`last_event_id=0123456789abcdef%3A${snapshot.version}`);
  });

  it("takes a resync as the whole truth", () => {
    const { store, sources } = setup();
    sources[0].open();
    sources[0].emit("snapshot", snapshot);
    const resync = { ...snapshot, version: snapshot.version + 100, entities: snapshot.entities.slice(0, 5), connections: [] };
    sources[0].emit("resync", resync);
    expect(store.version).toBe(resync.version);
    expect(store.entities.size).toBe(5);
  });

  it("ignores frames from a connection it has dropped", () => {
    const { store, sources } = setup();
    sources[0].open();
    sources[0].emit("snapshot", snapshot);
    sources[0].fail();
    sources[0].emit("delta", deltas[0]);
    expect(store.version).toBe(snapshot.version);
  });
});
