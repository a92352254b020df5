// The event feed across a server restart (SIGTERM, then the same config and data dir), fed
// with what a real `gestalt serve` sent (web/tests/fixtures/restart-*, recorded by
// scripts/capture-restart.py): the feed keeps what it showed and adds what it missed, as a
// reload would show it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { InfraEvent, Topology } from "../src/api/types";
import { openEventStream } from "../src/live/eventStream";
import type { EventSourceLike } from "../src/live/topologyStream";
import { MAX_EVENTS, afterSnapshot, mergeEvents, missedSince } from "../src/state/events";
import { type Frame, readFrames } from "./sse";

const before = readFrames("restart-events-before.sse");
const replayed = readFrames("restart-events-after.sse");
const [resumed] = readFrames("restart-topology-after.sse");
const history = JSON.parse(readFileSync(join(__dirname, "fixtures", "restart-events.json"), "utf8")) as
  { since: number; missed: InfraEvent[]; all: InfraEvent[] };

const events = (frames: Frame[]) => frames.map((f) => JSON.parse(f.data) as InfraEvent);
const logOf = (id: string | null) => id!.slice(0, id!.lastIndexOf(":"));
const map = JSON.parse(resumed.data) as Topology;
const onMap = (id: string) => map.entities.some((e) => e.id === id);
const sameLog = logOf(before[0].id) === logOf(resumed.id);
const shown = mergeEvents([], events(before));
/** What a reload shows: the server's newest, as many as the feed holds. */
const reload = history.all.slice(0, MAX_EVENTS).map((e) => e.id);
const ids = (list: InfraEvent[]) => list.map((e) => e.id);

describe("the event feed across a server restart", () => {
  it("was recorded from a restart that kept the log and lost entities", () => {
    expect(resumed.event).toBe("snapshot");
    expect(sameLog).toBe(true);
    expect(shown.filter((e) => !onMap(e.entity_id)).length).toBeGreaterThan(0);
    expect(replayed.length).toBeGreaterThan(0);
  });

  it("keeps what it showed and adds what it missed, whatever comes first", () => {
    const steps: Record<string, (feed: InfraEvent[]) => InfraEvent[]> = {
      replay: (feed) => mergeEvents(feed, events(replayed)),
      snapshot: (feed) => afterSnapshot(feed, sameLog, onMap),
      history: (feed) => mergeEvents(feed, history.missed),
    };
    for (const order of [["replay", "snapshot", "history"], ["snapshot", "history", "replay"], ["history", "replay", "snapshot"]]) {
      const feed = order.reduce((list, step) => steps[step](list), shown);
      expect(ids(feed), order.join(", ")).toEqual(reload);
      expect(new Set(ids(feed)).size).toBe(feed.length);
      expect(feed.length).toBeGreaterThanOrEqual(shown.length);
      // Events of entities gone from the map are history too: still there.
      for (const e of shown) expect(ids(feed)).toContain(e.id);
    }
  });

  it("fills from history what the stream did not replay", () => {
    expect(missedSince(shown)).toBe(history.since);
    expect(missedSince([])).toBeNull();
    const feed = mergeEvents(afterSnapshot(shown, sameLog, onMap), history.missed);
    expect(ids(feed)).toEqual(reload);
  });

  it("after another world's snapshot keeps only events of entities on its map", () => {
    const feed = afterSnapshot(shown, false, onMap);
    expect(feed.length).toBeLessThan(shown.length);
    expect(feed.every((e) => onMap(e.entity_id))).toBe(true);
    expect(afterSnapshot(feed, false, onMap)).toBe(feed);
  });
});

/** An EventSource driven by the test: the recorded frames are pushed through it. */
class FakeSource implements EventSourceLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners: ((ev: MessageEvent) => void)[] = [];
  constructor(readonly url: string) {}
  addEventListener(_type: string, listener: (ev: MessageEvent) => void): void { this.listeners.push(listener); }
  close(): void { this.closed = true; this.readyState = 2; }
  open(): void { this.readyState = 1; this.onopen?.(new Event("open")); }
  emit(frames: Frame[]): void {
    for (const f of frames) for (const l of this.listeners) l({ data: f.data, lastEventId: f.id } as MessageEvent);
  }
  /** The connection dropped: EventSource reconnects (0), or has given up (2). */
  fail(readyState: 0 | 2): void { this.readyState = readyState; this.onerror?.(new Event("error")); }
}

function follow() {
  const sources: FakeSource[] = [];
  const timers: (() => void)[] = [];
  const batches: InfraEvent[][] = [];
  let resumes = 0;
  const close = openEventStream("/api/infra/events/stream", (b) => batches.push(b), {
    open: (url) => { const s = new FakeSource(url); sources.push(s); return s; },
    onResume: () => { resumes += 1; },
    setTimer: (fn) => timers.push(fn),
  });
  return { sources, timers, batches, close, resumes: () => resumes };
}

describe("the event stream across a server restart", () => {
  it("asks for what it missed once EventSource has reconnected by itself", async () => {
    const { sources, batches, resumes } = follow();
    sources[0].open();
    sources[0].emit(before);
    await Promise.resolve();
    expect(batches.map((b) => b.length)).toEqual([before.length]);
    expect(resumes()).toBe(0);
    sources[0].fail(0);
    sources[0].open();
    expect(resumes()).toBe(1);
    expect(sources.length).toBe(1);
    sources[0].emit(replayed);
    await Promise.resolve();
    expect(batches[1].length).toBe(replayed.length);
  });

  it("opens the stream again, from the last event, where EventSource gave up", () => {
    const { sources, timers, resumes, close } = follow();
    sources[0].open();
    sources[0].emit(before);
    sources[0].fail(2);
    expect(sources[0].closed).toBe(true);
    timers.shift()!();
    expect(sources[1].url).toBe(`/api/infra/events/stream?last_event_id=${encodeURIComponent(before[before.length - 1].id!)}`);
    sources[1].fail(2); // the server is not back yet
    timers.shift()!();
    sources[2].open();
    expect(resumes()).toBe(1);
    close();
    expect(sources[2].closed).toBe(true);
  });
});
