// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import * as THREE from "three";
import type { Connection, Entity, Topology } from "../src/api/types";
import type { LayoutClient } from "../src/layout/client";
import { ringSides } from "../src/scene/layers/RingLayer";
import { EDGE_KINDS, edgeStyleKey } from "../src/scene/mapping";
import { GPU_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { EMPTY_FILTERS } from "../src/state/url";
import { buildView } from "../src/state/view";
import { readFrames } from "./sse";

const snapshot = JSON.parse(readFrames("topology-stream.sse").find((f) => f.event === "snapshot")!.data) as Topology;
const entities = new Map<string, Entity>(snapshot.entities.map((e) => [e.id, e]));
const edges = new Map<string, Connection>(snapshot.connections.map((c) => [c.id, c]));

// A layout that has placed every entity at the origin (every edge 0 px long).
const placedIds = snapshot.entities.map((e) => e.id);
const atOrigin = { revision: 1, ids: placedIds, positions: new Float32Array(placedIds.length * 3), index: new Map(placedIds.map((id, i) => [id, i])), read: () => true } as unknown as LayoutClient;

describe("edges", () => {
  it("are one draw for every style, each vertex carrying its edge's style, grouped in style order", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    expect(new Set(view.edges.map(edgeStyleKey)).size).toBeGreaterThan(3);
    const sg = new SceneGraph(GPU_OPTIONS);
    sg.setView(view, [], atOrigin);
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.updateMatrixWorld();
    sg.update(atOrigin, 0, camera, 380, 800);
    const lines: THREE.LineSegments[] = [];
    sg.root.traverse((o) => { if (o instanceof THREE.LineSegments && o.name.startsWith("edges")) lines.push(o); });
    const drawn = lines.filter((l) => l.visible);
    expect(drawn.length).toBe(1);
    const g = drawn[0].geometry;
    expect(g.drawRange.count).toBe(view.edges.length * 2);
    const styles = Array.from((g.getAttribute("aStyle").array as Float32Array).subarray(0, view.edges.length * 2));
    const expected = view.edges.map((e) => EDGE_KINDS.indexOf(edgeStyleKey(e))).sort((a, b) => a - b).flatMap((s) => [s, s]);
    expect(styles).toEqual(expected);
  });

  it("stay within a software renderer's budget of lines, filling it even when all are equally short", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    const budget = Math.floor(view.edges.length / 2);
    expect(budget).toBeGreaterThan(2);
    // Every node at the origin: every edge is 0 px long, all in the shortest bucket together.
    const sg = new SceneGraph({ ...GPU_OPTIONS, edgePixels: 1e6, edgeLines: budget });
    sg.setView(view, [], atOrigin);
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.updateMatrixWorld();
    sg.update(atOrigin, 0, camera, 380, 800);
    const lines = sg.root.children.find((o) => o.name === "edges") as THREE.LineSegments;
    expect(lines.geometry.drawRange.count).toBe(budget * 2);
  });

  afterEach(() => { vi.restoreAllMocks(); });

  it("are drawn within a share of the budget while a moving camera makes frames slow, and all again after", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    const budget = Math.floor(view.edges.length / 2);
    const sg = new SceneGraph({ ...GPU_OPTIONS, edgePixels: 1e6, edgeLines: budget });
    sg.setView(view, [], atOrigin);
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.updateMatrixWorld();
    const lines = sg.root.children.find((o) => o.name === "edges") as THREE.LineSegments;
    sg.update(atOrigin, 0, camera, 380, 800, 0.5, 0.5);
    expect(lines.geometry.drawRange.count).toBe(Math.floor(budget * 0.5) * 2);
    // A picture taken meanwhile has them all.
    sg.fullDetail();
    expect(lines.geometry.drawRange.count).toBe(budget * 2);
    sg.update(atOrigin, 0.01, camera, 380, 800, 0.5, 0.5);
    expect(lines.geometry.drawRange.count).toBe(Math.floor(budget * 0.5) * 2);
    // The camera rests: the whole budget, though nothing else changed.
    expect(sg.update(atOrigin, 0.02, camera, 380, 800, 1, 1)).toBe(true);
    expect(lines.geometry.drawRange.count).toBe(budget * 2);
  });


  it("keep the selection's edges and the traced path's within a tight budget, the path lit and the rest dimmed", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    const degree = new Map<string, number>();
    for (const e of view.edges) for (const end of [e.source, e.target]) degree.set(end, (degree.get(end) ?? 0) + 1);
    const selected = [...degree].sort((a, b) => b[1] - a[1])[0][0];
    const path = view.edges.find((e) => e.source !== selected && e.target !== selected)!;
    const atSelected = view.edges.filter((e) => e.source === selected || e.target === selected).length;
    const sg = new SceneGraph({ ...GPU_OPTIONS, edgePixels: 1e6, edgeLines: atSelected + 1 });
    sg.setView(view, [], atOrigin);
    sg.selected = selected;
    sg.setHighlight(new Set([path.source, path.target]));
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.updateMatrixWorld();
    sg.update(atOrigin, 0, camera, 380, 800);
    const layer = (sg as unknown as { edges: { shown: Uint8Array } }).edges;
    const shown = view.edges.filter((_, e) => layer.shown[e]);
    expect(shown.filter((e) => e.source === selected || e.target === selected)).toHaveLength(atSelected);
    expect(shown).toContain(path);
    expect(shown).toHaveLength(atSelected + 1);
    // The path's edge is drawn lit (1.6), the selection's dimmed (0.25): not on the path.
    const lines = sg.root.children.find((o) => o.name === "edges") as THREE.LineSegments;
    const dims = new Set(Array.from((lines.geometry.getAttribute("aDim").array as Float32Array).subarray(0, shown.length * 2)));
    expect(dims).toEqual(new Set([1.6, 0.25].map(Math.fround)));
  });

  it("are chosen again at most every 150 ms while only the camera moves, and once more when it stops", () => {
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set());
    const sg = new SceneGraph({ ...GPU_OPTIONS, edgePixels: 1e6, edgeLines: 2 });
    sg.setView(view, [], atOrigin);
    const layer = (sg as unknown as { edges: { writeEdges: (s: SceneGraph) => void } }).edges;
    const writes = vi.spyOn(layer, "writeEdges");
    const clock = vi.spyOn(performance, "now");
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    const frame = (at: number, x: number) => {
      clock.mockReturnValue(at);
      camera.position.set(x, 140, 360);
      camera.updateMatrixWorld();
      return sg.update(atOrigin, at / 1000, camera, 380, 800);
    };
    frame(1000, 0);
    expect(writes).toHaveBeenCalledTimes(1);
    frame(1016, 1); // orbiting: no new choice yet
    frame(1033, 2);
    expect(writes).toHaveBeenCalledTimes(1);
    frame(1160, 3); // 160 ms after the last choice
    expect(writes).toHaveBeenCalledTimes(2);
    frame(1176, 4);
    expect(writes).toHaveBeenCalledTimes(2);
    // The camera stops: the edges are chosen for where it stopped, and that frame is drawn.
    expect(frame(1193, 4)).toBe(true);
    expect(writes).toHaveBeenCalledTimes(3);
    // Nothing moves any more: nothing to choose or write (a rotated camera's matrix kept in
    // a Float32Array never equalled itself, and every frame counted as a move).
    camera.lookAt(0, 0, 0); // a turn, then still
    frame(1210, 4);
    expect(frame(1226, 4)).toBe(true);
    expect(writes).toHaveBeenCalledTimes(4);
    const glyphs = vi.spyOn((sg as unknown as { nodes: { writeGlyphs: (s: SceneGraph) => void } }).nodes, "writeGlyphs");
    frame(1243, 4);
    frame(1260, 4);
    expect(writes).toHaveBeenCalledTimes(4);
    expect(glyphs).not.toHaveBeenCalled();
  });
});

describe("namespace rings drawn as lines", () => {
  it("have sides enough to look round and no more", () => {
    expect(ringSides(0)).toBe(12);
    expect(ringSides(10)).toBe(12);
    expect(ringSides(100)).toBe(32);
    expect(ringSides(5000)).toBe(48);
    // Under half a pixel off round, wherever the count is not clamped.
    for (const r of [20, 60, 100, 200]) {
      const n = ringSides(r);
      expect(r * (1 - Math.cos(Math.PI / n))).toBeLessThan(0.5);
    }
  });
});
