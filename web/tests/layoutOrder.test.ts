// The layout worker posts its node order as a change from the last order it sent: applied
// by the page, the change gives the worker's order exactly, over recorded churn.
import { describe, expect, it } from "vitest";
import { LayoutEngine } from "../src/layout/engine";
import { LayoutMirror } from "../src/layout/mirror";
import { applyOrder, orderChange } from "../src/layout/order";
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
    let page: string[] = [];
    expect(orderChange(page, engine.ids())).toBeNull(); // the first order goes whole
    page = engine.ids();
    let changes = 0;
    for (const delta of deltas) {
      store.applyDelta(clone(delta));
      sync();
      const change = orderChange(page, engine.ids());
      expect(change).not.toBeNull();
      if (change!.removed.length || change!.added.length) changes += 1;
      page = applyOrder(page, change!);
      expect(page).toEqual(engine.ids());
    }
    expect(changes).toBeGreaterThan(1);
  });

  it("sends a reordered or mostly new order whole", () => {
    expect(orderChange(["a", "b", "c"], ["b", "a", "c"])).toBeNull();
    expect(orderChange(["a", "b", "c", "d"], ["a", "x", "y", "z"])).toBeNull();
    const change = orderChange(["a", "b", "c", "d"], ["a", "c", "d", "e"])!;
    expect(change).toEqual({ removed: ["b"], added: ["e"] });
    expect(applyOrder(["a", "b", "c", "d"], change)).toEqual(["a", "c", "d", "e"]);
  });
});
