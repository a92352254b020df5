// @vitest-environment jsdom
// A view updated from the graph's changes updates the scene by place: what each node had
// (position, shape, namespace ring, style) is carried over, and only what the change
// touched is worked out again (with the ends of connections that came or went, which size
// some kinds). The result equals a scene built from the same view from scratch.
import { describe, expect, it, vi } from "vitest";
import * as THREE from "three";
import type { LayoutClient } from "../src/layout/client";
import { GPU_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { clone, readStream } from "./sse";

const unplaced = { revision: 0, ids: [], positions: new Float32Array(0), index: new Map(), read: () => false } as unknown as LayoutClient;

function styles(sg: SceneGraph) {
  return { colours: Array.from(sg.colours), sizes: Array.from(sg.sizes), flags: Array.from(sg.flags), level: Array.from(sg.level) };
}

/** What the scene worked out from the view: the same whether updated or built whole. */
function workedOut(sg: SceneGraph) {
  const inner = sg as unknown as { nsOf: Int32Array; nsMembers: Map<number, number[]> };
  return {
    index: [...sg.index].sort(),
    shapeOf: Array.from(sg.shapeOf),
    nsOf: Array.from(inner.nsOf),
    nsMembers: [...inner.nsMembers].sort((a, b) => a[0] - b[0]),
    edgeA: Array.from(sg.edgeA), edgeB: Array.from(sg.edgeB), owner: Array.from(sg.owner),
  };
}

/** A position made from the id, so that each node's can be told apart after an update. */
function idPosition(id: string): number {
  let h = 0;
  for (let k = 0; k < id.length; k++) h = (h * 31 + id.charCodeAt(k)) % 100_003;
  return h;
}

describe("updating the scene from a view updated by the graph's changes", () => {
  for (const fixture of ["topology-stream.sse", "topology-stream-logged.sse"]) {
    it(`equals building it whole, after each recorded delta (${fixture})`, () => {
      const { snapshot, deltas } = readStream(fixture);
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
        sg.view.nodes.forEach((node, i) => { sg.pos[i * 3] = idPosition(node.id); });
        const before = new Set(sg.view.nodes.map((node) => node.id));
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
        expect(workedOut(sg)).toEqual(workedOut(whole));
        sg.view.nodes.forEach((node, i) => { if (before.has(node.id)) expect(sg.pos[i * 3]).toBe(idPosition(node.id)); });
      }
      expect(partial).toBe(deltas.length); // none of them restyled every node
    });
  }

  it("styles every node after a snapshot, and when a change's log overflowed", () => {
    const { snapshot } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    expect(store.takeRestyled()).toBeNull();
    expect(store.takeRestyled()).toEqual(new Set());
    store.applySnapshot(clone(snapshot));
    expect(store.takeRestyled()).toBeNull();
  });

  it("keeps traffic particles on their edges, and chooses them again within half a second", () => {
    const { snapshot, deltas } = readStream("topology-stream.sse");
    const store = new GraphStore();
    store.applySnapshot(clone(snapshot));
    const builder = new ViewBuilder();
    const sg = new SceneGraph(GPU_OPTIONS);
    store.takeRestyled();
    sg.setView(builder.build(store, EMPTY_FILTERS, 10000, new Set()), [], unplaced, null);
    const particles = (sg as unknown as { particles: { particleEdges: Int32Array; particleCount: number } }).particles;
    const clock = vi.spyOn(performance, "now");
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.updateMatrixWorld();
    let at = 1000;
    let remapped = 0;
    for (const delta of deltas) {
      const before = Array.from(particles.particleEdges.subarray(0, particles.particleCount), (e) => (e >= 0 ? sg.view.edges[e].id : null));
      expect(before.length).toBeGreaterThan(0);
      store.applyDelta(clone(delta));
      const view = builder.build(store, EMPTY_FILTERS, 10000, new Set());
      clock.mockReturnValue(at);
      sg.setView(view, store.removedSinceRender.splice(0), unplaced, store.takeRestyled());
      const ids = new Set(view.edges.map((e) => e.id));
      Array.from(particles.particleEdges.subarray(0, particles.particleCount)).forEach((e, q) => {
        if (e >= 0) { expect(view.edges[e].id).toBe(before[q]); remapped += 1; }
        else expect(before[q] === null || !ids.has(before[q]!)).toBe(true);
      });
      // Half a second later a frame chooses them again: as a scene built whole would.
      at += 600;
      clock.mockReturnValue(at);
      sg.update(unplaced, at / 1000, camera, 380, 800);
      const whole = new SceneGraph(GPU_OPTIONS);
      whole.setView(view, [], unplaced);
      const wholeParticles = (whole as unknown as { particles: typeof particles }).particles;
      expect(Array.from(particles.particleEdges.subarray(0, particles.particleCount))).toEqual(Array.from(wholeParticles.particleEdges.subarray(0, wholeParticles.particleCount)));
    }
    expect(remapped).toBeGreaterThan(0);
  });
});
