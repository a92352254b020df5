// @vitest-environment jsdom
// The scene restyles only the entities a change touched (and the ends of connections that
// came or went, which size some kinds), and the result equals styling every node again.
import { describe, expect, it, vi } from "vitest";
import type { Delta, Topology } from "../src/api/types";
import type { LayoutClient } from "../src/layout/client";
import { GPU_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { readFrames } from "./sse";

const unplaced = { revision: 0, ids: [], positions: new Float32Array(0), index: new Map(), read: () => false } as unknown as LayoutClient;
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function styles(sg: SceneGraph) {
  return { colours: Array.from(sg.colours), sizes: Array.from(sg.sizes), flags: Array.from(sg.flags), level: Array.from(sg.level) };
}

describe("restyling what changed", () => {
  for (const fixture of ["topology-stream.sse", "topology-stream-logged.sse"]) {
    it(`equals styling every node, after each recorded delta (${fixture})`, () => {
      const frames = readFrames(fixture);
      const snapshot = JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology;
      const deltas = frames.filter((f) => f.event === "delta").map((f) => JSON.parse(f.data) as Delta);
      const store = new GraphStore();
      store.applySnapshot(clone(snapshot));
      const builder = new ViewBuilder();
      const sg = new SceneGraph(GPU_OPTIONS);
      expect(store.takeRestyled()).toBeNull(); // after a snapshot: everything
      sg.setView(builder.build(store, EMPTY_FILTERS, 10000, new Set()), [], unplaced, null);
      const styled = vi.spyOn(sg as unknown as { styleNode: () => void }, "styleNode");
      let structure = store.structure;
      let partial = 0;
      for (const delta of deltas) {
        expect(store.applyDelta(clone(delta))).toBe("applied");
        styled.mockClear();
        if (store.structure !== structure) {
          structure = store.structure;
          const view = builder.build(store, EMPTY_FILTERS, 10000, new Set());
          expect(builder.incremental).toBe(true);
          sg.setView(view, store.removedSinceRender.splice(0), unplaced, store.takeRestyled());
        } else {
          sg.refreshStyle(false, store.takeRestyled());
        }
        if (styled.mock.calls.length < sg.view.nodes.length) partial += 1;
        const whole = new SceneGraph(GPU_OPTIONS);
        whole.setView(sg.view, [], unplaced);
        expect(styles(sg)).toEqual(styles(whole));
      }
      expect(partial).toBe(deltas.length); // none of them restyled every node
    });
  }

  it("styles every node after a snapshot, and when a change's log overflowed", () => {
    const frames = readFrames("topology-stream.sse");
    const snapshot = JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology;
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    expect(store.takeRestyled()).toBeNull();
    expect(store.takeRestyled()).toEqual(new Set());
    store.applySnapshot(clone(snapshot));
    expect(store.takeRestyled()).toBeNull();
  });
});
