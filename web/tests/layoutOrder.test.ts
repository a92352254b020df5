// The layout worker posts its node order as a change from the last order it sent: applied
// by the page, the change gives the worker's order exactly, over recorded churn.
import { describe, expect, it } from "vitest";
import { LayoutEngine } from "../src/layout/engine";
import { LayoutMirror } from "../src/layout/mirror";
import { applyOrder, worthSending } from "../src/layout/order";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { clone, readStream } from "./sse";


describe("layout order changes", () => {
  it("give the worker's order after each recorded delta, as a change and not the whole", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    const builder = new ViewBuilder(), mirror = new LayoutMirror(), engine = new LayoutEngine();
    const sync = () => {
      const change = mirror.diff(builder.build(store, EMPTY_FILTERS, 10000, new Set()), builder.changes);
      if (change) engine.sync(change);
    };
    sync();
    expect(worthSending(engine.lastOrderChange, engine.nodes.size)).toBe(false); // the first order goes whole
    let page = engine.ids();
    let changes = 0;
    for (const delta of deltas) {
      store.applyDelta(clone(delta));
      const before = engine.orderVersion;
      sync();
      if (engine.orderVersion === before) continue;
      const change = engine.lastOrderChange;
      expect(worthSending(change, engine.nodes.size)).toBe(true);
      if (change.removed.length || change.added.length) changes += 1;
      page = applyOrder(page, change);
      expect(page).toEqual(engine.ids());
    }
    expect(changes).toBeGreaterThan(1);
  });

  it("says what a sync changed, also for a node that left and came back in one sync", () => {
    const engine = new LayoutEngine();
    const spec = (id: string) => ({ id, group: "ns", kind: "pod" });
    engine.sync({ addNodes: ["a", "b", "c", "d", "f", "g", "h", "i"].map(spec), removeNodes: [], addLinks: [], removeLinks: [] });
    const page = engine.ids();
    engine.sync({ addNodes: [spec("e"), spec("b")], removeNodes: ["b", "gone"], addLinks: [], removeLinks: [] });
    expect(engine.lastOrderChange).toEqual({ removed: ["b"], added: ["e", "b"] });
    expect(applyOrder(page, engine.lastOrderChange)).toEqual(engine.ids());
    expect(worthSending(engine.lastOrderChange, engine.nodes.size)).toBe(true);
    expect(worthSending({ removed: ["a", "b"], added: ["x"] }, 4)).toBe(false);
  });
});
