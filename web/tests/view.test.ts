import { describe, expect, it } from "vitest";
import type { Connection, Entity, Topology } from "../src/api/types";
import { EMPTY_FILTERS, parseUrl, toSearch } from "../src/state/url";
import { buildView, matchesSearch, tracePath } from "../src/state/view";
import { readFrames } from "./sse";

const snapshot = JSON.parse(readFrames("topology-stream.sse").find((f) => f.event === "snapshot")!.data) as Topology;
const entities = new Map<string, Entity>(snapshot.entities.map((e) => [e.id, e]));
const edges = new Map<string, Connection>(snapshot.connections.map((c) => [c.id, c]));

describe("filters and search", () => {
  it("filters by kind, namespace, source and health", () => {
    const pods = buildView(entities, edges, { ...EMPTY_FILTERS, kinds: ["pod"] }, 10000, new Set());
    expect(pods.nodes.length).toBe(snapshot.entities.filter((e) => e.kind === "pod").length);
    expect(pods.nodes.every((n) => n.entity.kind === "pod")).toBe(true);
    const ns = buildView(entities, edges, { ...EMPTY_FILTERS, namespaces: ["team-0"] }, 10000, new Set());
    expect(ns.nodes.length).toBeGreaterThan(0);
    expect(ns.nodes.every((n) => n.entity.namespace === "team-0")).toBe(true);
    expect(buildView(entities, edges, { ...EMPTY_FILTERS, sources: ["docker"] }, 10000, new Set()).nodes.length).toBe(0);
    const ok = buildView(entities, edges, { ...EMPTY_FILTERS, health: ["ok"] }, 10000, new Set());
    expect(ok.nodes.every((n) => n.entity.health_status === "ok")).toBe(true);
    // Edges only between shown nodes.
    const ids = new Set(ns.nodes.map((n) => n.id));
    expect(ns.edges.every((e) => ids.has(e.source) && ids.has(e.target))).toBe(true);
  });

  it("searches names and label=value", () => {
    const pod = snapshot.entities.find((e) => e.kind === "pod" && e.labels && Object.keys(e.labels).length)!;
    expect(matchesSearch(pod, pod.name.toUpperCase())).toBe(true);
    const [k, v] = Object.entries(pod.labels!)[0];
    expect(matchesSearch(pod, `${k}=${v}`)).toBe(true);
    expect(matchesSearch(pod, "no-such-thing-xyz")).toBe(false);
  });
});

describe("aggregation beyond max_entities", () => {
  it("folds pods into their owner instead of dropping them, and expands on request", () => {
    const total = snapshot.entities.length;
    const view = buildView(entities, edges, EMPTY_FILTERS, 25, new Set());
    expect(view.nodes.length).toBeLessThan(total);
    const folded = view.nodes.filter((n) => n.members);
    expect(folded.length).toBeGreaterThan(0);
    // Nothing is lost: every entity is shown, itself or through its group.
    expect(view.shownAs.size).toBe(total);
    const members = folded.reduce((s, n) => s + n.members!.length, 0);
    expect(view.nodes.length - folded.length + members).toBe(total);
    const key = folded[0].id;
    const expanded = buildView(entities, edges, EMPTY_FILTERS, 25, new Set([key]));
    expect(expanded.nodes.some((n) => n.id === key)).toBe(false);
    for (const id of folded[0].members!) expect(expanded.shownAs.get(id)).toBe(id);
  });
});

describe("path tracing", () => {
  it("highlights everything upstream and downstream, not siblings", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    const pod = snapshot.entities.find((e) => e.kind === "pod")!;
    const path = tracePath(pod.id, view.edges);
    expect(path.has(pod.id)).toBe(true);
    for (const c of snapshot.connections) {
      if (c.target_id === pod.id) expect(path.has(c.source_id)).toBe(true);
      if (c.source_id === pod.id) expect(path.has(c.target_id)).toBe(true);
    }
    expect(path.size).toBeLessThan(view.nodes.length);
  });
});

describe("URL state", () => {
  it("round-trips selection, filters and layout, keeping other parameters", () => {
    const state = { selected: "pod:sim/a/b", q: "web", kinds: ["pod", "service"], namespaces: ["team-0"], sources: ["docker"], health: ["critical"], layout: "kind" as const, mode: "both" as const };
    const search = toSearch(state, "?token=abc");
    expect(search).toContain("token=abc");
    expect(parseUrl(search)).toEqual(state);
    expect(toSearch({ ...EMPTY_FILTERS, selected: null, layout: null }, "")).toBe("");
  });
});

describe("folded groups in words", () => {
  it("names a group by what it holds and where, not by its key", async () => {
    const { describeFold } = await import("../src/state/view");
    const name = (id: string) => (id === "namespace:kubesim/shop" ? "shop" : null);
    expect(describeFold("agg:pod:namespace:kubesim/shop", 31, name)).toBe("31 pods of namespace shop");
    expect(describeFold("agg:container:ns/data", 2, name)).toBe("2 containers in namespace data");
    expect(describeFold("agg:replicaset:deployment:kubesim/shop/api", 1, () => null)).toBe("1 replicaset of deployment kubesim/shop/api");
  });
});
