import { afterEach, describe, expect, it, vi } from "vitest";
import { readFileSync } from "node:fs";
import type { Topology, TopologyChange } from "../src/api/types";
import type { Live } from "../src/live/start";
import { startTravel } from "../src/live/travel";
import { GraphStore } from "../src/state/graph";
import { type TopologyDiff, useTime } from "../src/state/time";

// The page's window, before the modules that read it at load (state/ui.ts: the URL).
vi.hoisted(() => {
  (globalThis as Record<string, unknown>).window = {
    location: { origin: "http://gestalt.test", search: "", pathname: "/" },
    history: { replaceState: () => undefined },
  };
});

// Two past moments of a real server, the changes between them and their diff
// (scripts/capture-moments.py).
const moments = JSON.parse(readFileSync(new URL("./fixtures/topology-moments.json", import.meta.url), "utf8")) as {
  before: Topology; after: Topology; forward: TopologyChange; backward: TopologyChange; diff: TopologyDiff;
};

/** The server, answering each request when the test says. */
function server() {
  const asked: { query: URLSearchParams; answer: (body: unknown, status?: number) => void }[] = [];
  vi.stubGlobal("fetch", (url: string) => new Promise((resolve) => {
    const parsed = new URL(url, "http://gestalt.test");
    if (parsed.pathname !== "/api/infra/topology") { resolve({ ok: false, status: 404, json: async () => ({}) }); return; }
    asked.push({
      query: parsed.searchParams,
      answer: (body, status = 200) => resolve({ ok: status < 400, status, json: async () => body }),
    });
  }));
  return asked;
}

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

function holds(graph: GraphStore, topology: Topology) {
  expect(new Set(graph.entities.keys())).toEqual(new Set(topology.entities.map((e) => e.id)));
  expect(new Set(graph.edges.keys())).toEqual(new Set(topology.connections.map((c) => c.id)));
  expect(graph.version).toBe(topology.version);
}

describe("scrubbing", () => {
  const live = { topology: { stop: () => undefined, start: () => undefined } } as unknown as Live;
  afterEach(() => {
    vi.unstubAllGlobals();
    useTime.setState({ at: null, shown: null, error: null });
  });

  it("asks each moment after the first as the change from the one shown, only the latest", async () => {
    const asked = server();
    const graph = new GraphStore();
    const travel = startTravel(graph, live);
    const { before, after, forward, backward } = moments;
    travel.goTo(before.at!);
    travel.goTo(before.at! + 0.5); // while the first is out: replaced by the next
    travel.goTo(after.at!);
    expect(asked.length).toBe(1);
    asked[0].answer(before);
    await settled();
    holds(graph, before);
    expect([asked[1].query.get("at"), asked[1].query.get("since")]).toEqual([String(after.at), String(before.at)]);
    asked[1].answer(forward);
    await settled();
    holds(graph, after);
    expect(graph.snapshots.map((s) => s.at)).toEqual([before.at, after.at]);
    travel.goTo(before.at!);
    expect([asked[2].query.get("at"), asked[2].query.get("since")]).toEqual([String(before.at), String(after.at)]);
    asked[2].answer(backward);
    await settled();
    holds(graph, before);
    expect(asked.length).toBe(3);
    travel.stop();
  });

  it("asks the whole moment when the change does not start from the map held", async () => {
    const asked = server();
    const graph = new GraphStore();
    const travel = startTravel(graph, live);
    const { before, after } = moments;
    travel.goTo(before.at!);
    asked[0].answer(before);
    await settled();
    graph.applyDelta({ version: graph.version + 1, timestamp: 0 }); // the map moved on meanwhile
    travel.goTo(after.at!);
    expect([asked[1].query.get("at"), asked[1].query.get("since")]).toEqual([String(after.at), null]);
    asked[1].answer(after);
    await settled();
    holds(graph, after);
    travel.goTo(before.at!);
    asked[2].answer({ error: "since: outside history" }, 404); // the change cannot be had
    await settled();
    expect([asked[3].query.get("at"), asked[3].query.get("since")]).toEqual([String(before.at), null]);
    asked[3].answer(before);
    await settled();
    holds(graph, before);
    expect(useTime.getState().error).toBeNull();
    travel.stop();
  });

  it("drops an answer asked before the page went back to live, even once in the past again", async () => {
    const asked = server();
    const graph = new GraphStore();
    const travel = startTravel(graph, live);
    travel.goTo(moments.before.at!);
    travel.backToLive();
    travel.goTo(moments.after.at!);
    asked[0].answer(moments.before);
    await settled();
    expect(graph.snapshots).toEqual([]);
    expect([asked[1].query.get("at"), asked[1].query.get("since")]).toEqual([String(moments.after.at), null]);
    asked[1].answer(moments.after);
    await settled();
    holds(graph, moments.after);
    expect(graph.snapshots.map((s) => s.at)).toEqual([moments.after.at]);
    travel.stop();
  });
});

describe("comparing, then back to live", () => {
  const live = { topology: { stop: () => undefined, start: () => undefined } } as unknown as Live;
  afterEach(() => {
    vi.unstubAllGlobals();
    useTime.setState({ at: null, shown: null, error: null, compareFrom: null, diff: null, ghosts: null });
  });

  it("ends the comparison and leaves the map the moment shown, without its ghosts", async () => {
    const { before, after, diff } = moments;
    const asked: { path: string; answer: (body: unknown) => void }[] = [];
    vi.stubGlobal("fetch", (url: string) => new Promise((resolve) => {
      const path = new URL(url, "http://gestalt.test").pathname;
      asked.push({ path, answer: (body) => resolve({ ok: true, status: 200, json: async () => body }) });
    }));
    const graph = new GraphStore();
    const travel = startTravel(graph, live);
    useTime.setState({ compareFrom: before.at! });
    travel.compare();
    asked.find((a) => a.path === "/api/infra/topology/diff")!.answer(diff);
    await settled();
    asked.find((a) => a.path === "/api/infra/topology")!.answer(after);
    await settled();
    // Compared: the later moment with what was removed since the earlier one as ghosts.
    const { ghosts } = useTime.getState();
    expect(ghosts?.entities.size).toBe(diff.entities.removed.length);
    expect(graph.entities.size).toBe(after.entities.length + ghosts!.entities.size);

    travel.backToLive();
    // The live stream resumes from this version: no delta after it would remove the ghosts.
    holds(graph, after);
    expect(useTime.getState()).toMatchObject({ at: null, diff: null, compareFrom: null, ghosts: null });
    travel.stop();
  });
});
