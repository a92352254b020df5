// @vitest-environment jsdom
// Which critical entities get a label (labelling.ts wishLabels), on a SceneGraph built from
// a captured snapshot.
import { describe, expect, it } from "vitest";
import * as THREE from "three";
import type { Connection, Entity, Topology } from "../src/api/types";
import type { LayoutClient } from "../src/layout/client";
import { wishLabels } from "../src/scene/labelling";
import { GPU_OPTIONS, SceneGraph } from "../src/scene/SceneGraph";
import { EMPTY_FILTERS } from "../src/state/url";
import { buildView } from "../src/state/view";
import { readFrames } from "./sse";

const snapshot = JSON.parse(readFrames("topology-stream.sse").find((f) => f.event === "snapshot")!.data) as Topology;
// A layout that has placed every entity at the origin (every edge 0 px long).
const placedIds = snapshot.entities.map((e) => e.id);
const atOrigin = { revision: 1, ids: placedIds, positions: new Float32Array(placedIds.length * 3), index: new Map(placedIds.map((id, i) => [id, i])), read: () => true } as unknown as LayoutClient;

describe("critical labels", () => {
  it("name the rest of a spot when its first entity is hovered or selected", () => {
    // A crashed pod and its container: one incident, one spot (the layout has placed
    // both at the origin). The pod under the pointer gets the hover
    // label, which names only it: the container must still be named.
    const pod = "pod:sim/team-2/app-2-00007", container = "container:000000000007";
    const entities = new Map<string, Entity>(snapshot.entities.map((e) => [e.id,
      e.id === pod || e.id === container ? { ...e, health_status: "critical" } : e]));
    const edges = new Map<string, Connection>(snapshot.connections.map((c) => [c.id, c]));
    const sg = new SceneGraph(GPU_OPTIONS);
    sg.setView(buildView(entities, edges, EMPTY_FILTERS, 10_000, new Set()), [], atOrigin);
    const camera = new THREE.PerspectiveCamera(50, 800 / 600, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.lookAt(0, 0, 0);
    camera.updateMatrixWorld();
    sg.update(atOrigin, 0, camera, 380, 600);
    const frame = { camera, width: 800, height: 600, pixelRatio: 1, distance: 380 };
    const named = (hovered: string | null, selected: string | null) => new Set(
      wishLabels(sg, frame, "force", selected, hovered, null).flatMap((w) => w.members ?? [w.id]));
    for (const [hovered, selected] of [[null, null], [pod, null], [null, pod]] as const) {
      const all = named(hovered, selected);
      expect(all.has(container), `hovered ${hovered}, selected ${selected}`).toBe(true);
      expect(all.has(pod)).toBe(true);
    }
  });
});
