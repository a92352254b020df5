// The view kept up to date from the graph's change log equals the view built from the
// whole graph, after each recorded delta and after several taken in together, under
// filters, and where it must fall back to a whole rebuild (folding, Code Mode).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Connection, Entity, Topology } from "../src/api/types";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS, type Filters } from "../src/state/url";
import { type View, buildView } from "../src/state/view";
import { ViewBuilder } from "../src/state/viewUpdate";
import { clone, readStream } from "./sse";

/** A world recorded from kubesim (tests/fixtures/captured), as a snapshot. */
function captured(source: string): Topology {
  const path = join(__dirname, "..", "..", "tests", "fixtures", "captured", `${source}.json`);
  const { entities, connections } = JSON.parse(readFileSync(path, "utf8")) as { entities: Entity[]; connections: Connection[] };
  return { version: 1, entities, connections } as Topology;
}

/** Everything a view says, in its order (Maps by their entries: only lookups read them). */
function plain(view: View) {
  return {
    nodes: view.nodes.map((n) => [n.id, n.entity.id, n.members ?? null, n.near ?? null]),
    edges: view.edges.map((e) => [e.id, e.source, e.target, e.edge.id, e.cycle ?? false, e.projected ?? false]),
    shownAs: [...view.shownAs].sort(),
    degree: [...view.degree].sort(),
  };
}


function check(store: GraphStore, builder: ViewBuilder, filters: Filters, max = 10000, only: Set<string> | null = null): View {
  const view = builder.build(store, filters, max, new Set(), only);
  expect(plain(view)).toEqual(plain(buildView(store.entities, store.edges, filters, max, new Set(), only)));
  return view;
}

const FILTERS: [string, Filters][] = [
  ["no filter", EMPTY_FILTERS],
  ["pods and replicasets", { ...EMPTY_FILTERS, kinds: ["pod", "replicaset"] }],
  ["one namespace", { ...EMPTY_FILTERS, namespaces: ["team-0"] }],
];

describe("incremental view update", () => {
  for (const fixture of ["topology-stream.sse", "topology-stream-logged.sse"]) {
    for (const [what, filters] of FILTERS) {
      it(`equals a whole rebuild after each recorded delta (${fixture}, ${what})`, () => {
        const { snapshot, deltas } = readStream(fixture);
        const store = new GraphStore();
        store.applySnapshot(clone(snapshot));
        const builder = new ViewBuilder();
        check(store, builder, filters);
        expect(builder.incremental).toBe(false); // after a snapshot: whole
        expect(deltas.length).toBeGreaterThan(1);
        for (const delta of deltas) {
          expect(store.applyDelta(clone(delta))).toBe("applied");
          check(store, builder, filters);
          expect(builder.incremental).toBe(true);
        }
      });
    }
  }

  it("equals a whole rebuild after deltas taken in together (pods going and coming)", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    const builder = new ViewBuilder();
    check(store, builder, EMPTY_FILTERS);
    for (const delta of deltas) store.applyDelta(clone(delta));
    check(store, builder, EMPTY_FILTERS);
    expect(builder.incremental).toBe(true);
  });

  it("moves an entity removed and added again to the end, with its connections and owner", () => {
    const world = captured("kubernetes");
    const store = new GraphStore();
    store.applySnapshot(clone(world));
    const builder = new ViewBuilder();
    const before = check(store, builder, EMPTY_FILTERS);
    const owned = world.connections.find((c) => c.kind === "owns" && world.entities.some((e) => e.id === c.target_id && e.kind === "pod"))!;
    const pod = world.entities.find((e) => e.id === owned.target_id)!;
    const its = world.connections.filter((c) => c.source_id === pod.id || c.target_id === pod.id);
    expect(its.length).toBeGreaterThan(1);
    // Another pod's first, then this pod goes and comes back, in two deltas taken together.
    const other = world.entities.find((e) => e.kind === "pod" && e.id !== pod.id)!;
    store.applyDelta({ version: 2, timestamp: 2, removals: [pod.id, other.id] });
    store.applyDelta({ version: 3, timestamp: 3, upserts: [clone(other), clone(pod)], edge_upserts: clone(its) });
    const after = check(store, builder, EMPTY_FILTERS);
    expect(builder.incremental).toBe(true);
    expect(after.nodes.at(-1)!.id).toBe(pod.id);
    expect(after.nodes.at(-1)!.near).toBe(owned.source_id);
    expect(before.nodes.findIndex((n) => n.id === pod.id)).toBeLessThan(before.nodes.length - 2);
    // Its owner leaves: the pod's connections to it go with it, and it has no owner.
    store.applyDelta({ version: 4, timestamp: 4, removals: [owned.source_id] });
    expect(store.edges.has(owned.id)).toBe(false);
    check(store, builder, EMPTY_FILTERS);
    expect(builder.incremental).toBe(true);
  });

  it("rebuilds whole where an entity comes back into view in the middle of the order", () => {
    const world = captured("kubernetes");
    const store = new GraphStore();
    store.applySnapshot(clone(world));
    const builder = new ViewBuilder();
    const pod = world.entities.find((e) => e.kind === "pod" && e.sources?.length)!;
    const filters = { ...EMPTY_FILTERS, sources: [...pod.sources!] };
    check(store, builder, filters);
    store.applyDelta({ version: 2, timestamp: 2, upserts: [{ ...clone(pod), sources: ["elsewhere"] }] });
    check(store, builder, filters);
    expect(builder.incremental).toBe(true); // it left the view
    store.applyDelta({ version: 3, timestamp: 3, upserts: [clone(pod)] });
    const back = check(store, builder, filters);
    expect(builder.incremental).toBe(false);
    expect(back.shownAs.get(pod.id)).toBe(pod.id);
  });

  it("keeps to an `only` set (unusual only) and rebuilds whole when folding or in Code Mode", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const only = new Set(snapshot.entities.filter((_, i) => i % 2 === 0).map((e) => e.id));
    for (const id of deltas.flatMap((d) => d.upserts ?? []).map((e) => e.id)) only.add(id);
    const both = { ...EMPTY_FILTERS, mode: "both" as const };
    // One graph per builder: the change log has one reader.
    const cases = [
      { filters: EMPTY_FILTERS, max: 10000, only, incremental: true },
      { filters: EMPTY_FILTERS, max: 25, only: null, incremental: false }, // folds
      { filters: both, max: 10000, only: null, incremental: false },
    ];
    for (const c of cases) {
      const store = new GraphStore();
      store.applySnapshot(clone(snapshot));
      const builder = new ViewBuilder();
      check(store, builder, c.filters, c.max, c.only);
      for (const delta of deltas) {
        store.applyDelta(clone(delta));
        const view = check(store, builder, c.filters, c.max, c.only);
        expect(builder.incremental).toBe(c.incremental);
        if (c.max === 25) expect(view.nodes.some((n) => n.members)).toBe(true);
      }
    }
  });

  it("stays right with two builders reading one graph (each rebuilds whole after the other)", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    const one = new ViewBuilder(), two = new ViewBuilder();
    check(store, one, EMPTY_FILTERS);
    check(store, two, EMPTY_FILTERS);
    for (const delta of deltas) {
      store.applyDelta(clone(delta));
      check(store, one, EMPTY_FILTERS);
      expect(one.incremental).toBe(false);
      check(store, two, EMPTY_FILTERS);
      expect(two.incremental).toBe(false);
    }
  });

  it("rebuilds whole after a snapshot, and after another filter", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    const builder = new ViewBuilder();
    check(store, builder, EMPTY_FILTERS);
    store.applyDelta(clone(deltas[0]));
    check(store, builder, FILTERS[1][1]);
    expect(builder.incremental).toBe(false);
    store.applySnapshot(clone(snapshot));
    check(store, builder, FILTERS[1][1]);
    expect(builder.incremental).toBe(false);
  });
});
