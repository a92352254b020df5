// @vitest-environment jsdom
// A new map is first seen where the layout places it, framed as a whole: its nodes have no
// place until the layout worker answers, and until then they sit at the origin. Framed or
// drawn there, 10,000 entities were one pile seen from 60 units away, each glyph 85 px
// wide: 3 s of software rendering per frame, twice, before the first real sight of the map.
import { describe, expect, it } from "vitest";
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import type { LayoutClient } from "../src/layout/client";
import { CameraDirector } from "../src/scene/camera";
import { pick } from "../src/scene/picking";
import { GPU_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { GraphStore } from "../src/state/graph";
import { EMPTY_FILTERS } from "../src/state/url";
import { ViewBuilder } from "../src/state/viewUpdate";
import { clone, readStream } from "./sse";

const size = { width: 1280, height: 800 };
const free = { left: 0, top: 0, right: size.width, bottom: size.height };

/** A layout client that has placed `ids` (spread over a cube `spread` wide), or nothing. */
function layoutOf(ids: string[], spread: number): LayoutClient {
  const index = new Map(ids.map((id, i) => [id, i]));
  const positions = new Float32Array(ids.length * 3).map((_, k) => (((k * 7919) % 1000) / 1000 - 0.5) * spread);
  return {
    revision: 1, alpha: 1, ids, positions, index,
    read: (id: string, out: { x: number; y: number; z: number }) => {
      const i = index.get(id);
      if (i === undefined) return false;
      out.x = positions[i * 3]; out.y = positions[i * 3 + 1]; out.z = positions[i * 3 + 2];
      return true;
    },
  } as unknown as LayoutClient;
}

function scene() {
  const { snapshot } = readStream("topology-stream.sse");
  const store = new GraphStore();
  store.applySnapshot(clone(snapshot));
  const view = new ViewBuilder().build(store, EMPTY_FILTERS, 10000, new Set());
  const camera = new THREE.PerspectiveCamera(50, size.width / size.height, 0.5, 30000);
  camera.position.set(0, 140, 360);
  const controls = new OrbitControls(camera, document.createElement("canvas"));
  return { view, camera, director: new CameraDirector(camera, controls) };
}

describe("a new map's first sight", () => {
  it("counts the nodes the layout has not placed, and frames none of them", () => {
    const { view, director } = scene();
    const sg = new SceneGraph(GPU_OPTIONS);
    sg.setView(view, [], layoutOf([], 0));
    expect(view.nodes.length).toBeGreaterThan(20);
    expect(sg.unplaced).toBe(view.nodes.length);
    // Every node at the origin: there is nothing to frame yet.
    expect(director.fitPose(sg, free, size)).toBeNull();
  });

  it("frames what the layout placed, as wide as it is", () => {
    const { view, director } = scene();
    const ids = view.nodes.map((n) => n.id);
    const sg = new SceneGraph(GPU_OPTIONS);
    sg.setView(view, [], layoutOf(ids, 800));
    expect(sg.unplaced).toBe(0);
    const pose = director.fitPose(sg, free, size)!;
    expect(pose.position.distanceTo(pose.target)).toBeGreaterThan(600);
  });

  it("jumps to frame a map that grew manyfold since the last fit, without waiting for the next refit", () => {
    const { view, camera, director } = scene();
    const ids = view.nodes.map((n) => n.id);
    const canvas = document.createElement("canvas");
    canvas.getBoundingClientRect = () => ({ ...free, x: 0, y: 0, ...size, toJSON: () => null });
    const small = new SceneGraph(GPU_OPTIONS);
    small.setView({ ...view, nodes: view.nodes.slice(0, 3), edges: [] }, [], layoutOf(ids.slice(0, 3), 4));
    director.update(1000, small, "a", canvas, size);
    director.update(1001, small, "a", canvas, size); // the first framing jumps
    const close = camera.position.length();
    const big = new SceneGraph(GPU_OPTIONS);
    big.setView(view, [], layoutOf(ids, 800));
    // 50 ms later (a refit is otherwise 300 ms away), in one step.
    expect(director.update(1050, big, "b", canvas, size)).toBe(true);
    expect(camera.position.length()).toBeGreaterThan(close * 5);
  });

  it("draws, picks and labels only the nodes the layout placed, never a pile at the origin", () => {
    const { view, camera } = scene();
    const ids = view.nodes.map((n) => n.id);
    camera.position.set(0, 0, 3000);
    camera.lookAt(0, 0, 0);
    camera.updateMatrixWorld();
    const drawn = (placedIds: string[]) => {
      const sg = new SceneGraph(GPU_OPTIONS);
      sg.setView(view, [], layoutOf(placedIds, 800));
      sg.update(layoutOf(placedIds, 800), 0, camera, 3000, size.height);
      return sg;
    };
    // Nothing placed (a layout slow to answer, and the wait for it over): nothing drawn.
    const none = drawn([]);
    expect(none.glyphCount + none.meshCount).toBe(0);
    expect(pick(none, size.width / 2, size.height / 2, size.width, size.height, camera, 2000)).toBeNull();
    // Half placed: at most that half drawn (the other half, at the origin, is not).
    const half = ids.filter((_, i) => i % 2 === 0);
    const some = drawn(half);
    expect(some.unplaced).toBeGreaterThan(0);
    expect(some.glyphCount + some.meshCount).toBeGreaterThan(0);
    expect(some.glyphCount + some.meshCount).toBeLessThanOrEqual(view.nodes.length - some.unplaced);
    const all = drawn(ids);
    expect(all.glyphCount + all.meshCount).toBeGreaterThan(some.glyphCount + some.meshCount);
  });

  it("is drawn at once with a few nodes waiting for places: 20, or 1 % of a big view", () => {
    const { view } = scene();
    const ids = view.nodes.map((n) => n.id);
    const sg = new SceneGraph(GPU_OPTIONS);
    sg.setView(view, [], layoutOf(ids, 800));
    expect(view.nodes.length).toBeLessThan(2000); // 1 % of it is under 20
    sg.unplaced = 20;
    expect(sg.placedEnough).toBe(true);
    sg.unplaced = 21;
    expect(sg.placedEnough).toBe(false);
    // A view a hundred times as big lets a hundred times as many wait.
    sg.view = { ...view, nodes: Array.from({ length: 100 }, () => view.nodes).flat() };
    sg.unplaced = sg.view.nodes.length / 100;
    expect(sg.placedEnough).toBe(true);
    sg.unplaced += 1;
    expect(sg.placedEnough).toBe(false);
  });
});
