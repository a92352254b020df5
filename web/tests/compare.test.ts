import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Entity, Topology } from "../src/api/types";
import { describeChange } from "../src/panels/format";
import { knownAt, withGhosts } from "../src/state/compare";
import { compareContext } from "../src/state/compareEntries";
import { countHealth } from "../src/state/health";
import type { TopologyDiff } from "../src/state/time";

// A /api/infra/topology/diff answer recorded from `gestalt demo`: a ConfigMap whose attrs
// changed, a container whose attrs, health and reasons changed.
const diff = JSON.parse(readFileSync(new URL("./fixtures/topology-diff.json", import.meta.url), "utf8"));
const changed = diff.entities.changed as Record<string, Record<string, [unknown, unknown]>>;
const line = (id: string) =>
  Object.entries(changed[id]).map(([f, [a, b]]) => describeChange(f, a, b)).join("; ");

describe("compare: what changed", () => {
  it("names the attributes that differ, with both values", () => {
    expect(line("configmap:kubesim/data/billing-config")).toBe("attrs.reference_count: 3 → 4");
  });

  it("shows plain fields and lists, and nothing as a dash", () => {
    const text = line("container:53f94d83bace");
    expect(text).toContain("attrs.restart_count: 0 → 2");
    expect(text).toContain("health_status: ok → warning");
    expect(text).toContain('health_reasons: – → ["restarted 2 times in the last 10 minutes"]');
    expect(text).not.toContain("[object Object]");
  });
});

describe("compare: a ghost is asked about as it was", () => {
  const removedId = (diff.entities.removed[0] ?? { id: "container:gone" }).id as string;
  const withRemoved = { ...diff, entities: { ...diff.entities, removed: [{ id: removedId, name: "gone", kind: "container" }] } };
  it("at the earlier moment, since the server has nothing of it at the later one", () => {
    expect(knownAt(removedId, withRemoved.to, withRemoved)).toBe(withRemoved.from);
  });
  it("and anything else at the moment shown", () => {
    expect(knownAt("configmap:kubesim/data/billing-config", withRemoved.to, withRemoved)).toBe(withRemoved.to);
    expect(knownAt(removedId, withRemoved.to - 60, withRemoved)).toBe(withRemoved.to - 60);
    expect(knownAt(removedId, null, withRemoved)).toBeNull();
  });
});

// Two moments of a real server two seconds apart (scripts/capture-moments.py, the synthetic
// source replacing pods), the topology at each and the diff between them.
const moments = JSON.parse(readFileSync(new URL("./fixtures/topology-moments.json", import.meta.url), "utf8")) as {
  before: Topology; after: Topology; diff: TopologyDiff;
};

describe("compare: ghosts", () => {
  const { after, diff: between } = moments;
  const { topology, ghosts } = withGhosts(after, between);

  it("are the removed entities and their edges, named so that they can be left out", () => {
    expect(between.entities.removed.length).toBeGreaterThan(0);
    expect([...ghosts!.entities].sort()).toEqual(between.entities.removed.map((e) => e.id).sort());
    expect(ghosts!.edges.size).toBeGreaterThan(0);
    expect(topology.entities.length).toBe(after.entities.length + ghosts!.entities.size);
    expect(topology.connections.length).toBe(after.connections.length + ghosts!.edges.size);
    for (const id of ghosts!.edges) expect(after.connections.some((c) => c.id === id)).toBe(false);
  });

  it("are never counted with the moment shown", () => {
    const shown = countHealth(topology.entities).all;
    expect(shown.total).toBe(after.entities.length + ghosts!.entities.size); // what a plain count says
    expect(countHealth(topology.entities, ghosts!.entities)).toEqual(countHealth(after.entities));
  });

  it("are none when nothing was removed", () => {
    const none = { ...between, entities: { ...between.entities, removed: [] }, connections: { ...between.connections, removed: [] } };
    expect(withGhosts(after, none)).toEqual({ topology: after, ghosts: null });
  });
});

describe("compare: each line says where its entity is", () => {
  const { after, diff: between } = moments;
  const onMap = new Map(after.entities.map((e) => [e.id, e]));
  const context = compareContext(between, (id) => onMap.get(id), after.connections);
  const containers = [...between.entities.added, ...between.entities.removed].filter((e) => e.kind === "container");

  it("names a container's pod and node, from the edges that own it (the synthetic source names none)", () => {
    const gone = between.entities.removed.find((e) => e.kind === "container")!;
    const pod = between.connections.removed.find((c) => c.kind === "owns" && c.target_id === gone.id)!;
    const podName = between.entities.removed.find((e) => e.id === pod.source_id)!.name;
    expect(context.get(gone.id)).toContain(`container · namespace ${gone.namespace} · pod ${podName} · node `);
    // Containers of the same name in the same namespace read apart.
    expect(new Set(containers.map((e) => e.name)).size).toBeLessThan(containers.length);
    expect(new Set(containers.map((e) => `${e.name} ${context.get(e.id)}`)).size).toBe(containers.length);
  });

  it("says the kind of what changed, where the map holds it", () => {
    for (const id of Object.keys(between.entities.changed)) {
      expect(context.get(id)).toMatch(new RegExp(`^${onMap.get(id)!.kind} · namespace `));
    }
  });

  it("adds the id where two lines would read the same (the map's edges unknown)", () => {
    const bare = compareContext(between, (id) => onMap.get(id), []);
    const added = between.entities.added.filter((e) => e.kind === "container");
    const twins = added.filter((e) => added.filter((o) => o.name === e.name && o.namespace === e.namespace).length > 1);
    expect(twins.length).toBeGreaterThan(1);
    for (const e of twins) expect(bare.get(e.id)).toBe(`container · namespace ${e.namespace} · ${e.id}`);
    for (const e of added.filter((a) => !twins.includes(a))) expect(bare.get(e.id)).toBe(`container · namespace ${e.namespace}`);
  });

  it("takes a Kubernetes container's pod and cluster from its own attributes", () => {
    const gone = diff.entities.removed[0] as Entity;
    expect(compareContext(diff, () => undefined, []).get(gone.id))
      .toBe("container · namespace payments · pod checkout-ac4d6d94-518e9 · cluster kubesim");
  });
});
