// The layout worker fed from the view's changes alone holds what it holds when fed by
// comparing the whole view: the same nodes (group, kind, site) and the same links.
import { describe, expect, it } from "vitest";
import type { LayoutLinkSpec, LayoutNodeSpec, LayoutSync } from "../src/layout/engine";
import { LayoutMirror } from "../src/layout/mirror";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { clone, readStream } from "./sse";

/** What the worker holds after the syncs it was sent (as LayoutEngine.sync keeps them). */
class Held {
  nodes = new Map<string, LayoutNodeSpec>();
  links = new Map<string, LayoutLinkSpec>();
  apply(change: LayoutSync | null): void {
    if (!change) return;
    for (const id of change.removeNodes) this.nodes.delete(id);
    for (const node of change.addNodes) this.nodes.set(node.id, { ...node, near: undefined });
    for (const id of change.removeLinks) this.links.delete(id);
    for (const link of change.addLinks) this.links.set(link.id, link);
  }
  plain() {
    return { nodes: [...this.nodes].sort(), links: [...this.links].sort() };
  }
}


describe("layout sync from the view's changes", () => {
  for (const fixture of ["topology-stream.sse", "topology-stream-logged.sse"]) {
    it(`leaves the worker holding what a whole comparison does (${fixture})`, () => {
      const { snapshot, deltas } = readStream(fixture);
      const store = new GraphStore();
      store.applySnapshot(clone(snapshot));
      const builder = new ViewBuilder();
      const byChanges = new LayoutMirror(), whole = new LayoutMirror();
      const fed = new Held(), compared = new Held();
      let view = builder.build(store, EMPTY_FILTERS, 10000, new Set());
      fed.apply(byChanges.diff(view, builder.changes));
      compared.apply(whole.diff(view));
      expect(fed.nodes.size).toBe(snapshot.entities.length);
      let incremental = 0;
      for (const delta of deltas) {
        store.applyDelta(clone(delta));
        view = builder.build(store, EMPTY_FILTERS, 10000, new Set());
        expect(builder.changes).not.toBeNull();
        incremental += builder.changes!.nodes.size;
        fed.apply(byChanges.diff(view, builder.changes));
        compared.apply(whole.diff(view));
        expect(fed.plain()).toEqual(compared.plain());
      }
      expect(incremental).toBeGreaterThan(0);
      // Members are tied to their namespaces, and edges are links.
      expect([...fed.links.keys()].some((id) => id.startsWith("member:"))).toBe(true);
      expect(fed.links.size).toBeGreaterThan(view.edges.length);
    });
  }
});
