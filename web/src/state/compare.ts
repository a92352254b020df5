// Comparing two moments on the map: the map shows the later moment; what was added and
// what changed since the earlier one are marked, and what was removed comes back as a
// ghost (grey, stale, where its old edges place it) with its own mark, so that it can be
// selected and flown to like the rest. Marks are shapes, not health colours: a square for
// added, a diamond for changed, a dashed circle for removed (scene/layers/ChangeLayer.ts,
// explained by the legend).
import type { Connection, Entity, Topology } from "../api/types";
import type { TopologyDiff } from "./time";

export type Change = "added" | "changed" | "removed";
export const CHANGES: Change[] = ["added", "changed", "removed"];
type RGB = [number, number, number];

/** Opaque, exact colours (tests find them in the picture): none is a health or kind colour. */
export const CHANGE_COLOURS: Record<Change, RGB> = {
  added: [0.64, 0.9, 0.21], // lime
  changed: [0.96, 0.45, 0.71], // pink
  removed: [0.86, 0.88, 0.92], // pale grey
};

export const CHANGE_LABELS: Record<Change, string> = {
  added: "added (square)",
  changed: "changed (diamond)",
  removed: "removed: ghost (dashed)",
};

/** Entity id -> how it changed between the diff's two moments. */
export function changesOf(diff: TopologyDiff): Map<string, Change> {
  const marks = new Map<string, Change>();
  for (const e of diff.entities.added) marks.set(e.id, "added");
  for (const id of Object.keys(diff.entities.changed)) marks.set(id, "changed");
  for (const e of diff.entities.removed) marks.set(e.id, "removed");
  return marks;
}

/** Whether `id`, shown at `at`, is a ghost of the comparison (withGhosts added it). */
export function isGhost(id: string, at: number | null, diff: TopologyDiff | null): diff is TopologyDiff {
  return at !== null && diff !== null && Math.abs(diff.to - at) < 1e-3 && diff.entities.removed.some((e) => e.id === id);
}

/** The moment to ask the server about `id` while the map shows `at`: a ghost is gone by
 * then (the server would answer 404), so it is asked about as it was at the earlier moment. */
export function knownAt(id: string, at: number | null, diff: TopologyDiff | null): number | null {
  return isGhost(id, at, diff) ? diff.from : at;
}

/** What a comparison added to the map that the server never sent for the moment shown. */
export interface Ghosts { entities: ReadonlySet<string>; edges: ReadonlySet<string> }

/** The topology at the diff's later moment plus the removed entities (and their edges
 * among what is shown) as ghosts: grey and stale, never mistaken for something there.
 * `ghosts` names them, so that they can be left out of counts and taken out again. */
export function withGhosts(topology: Topology, diff: TopologyDiff): { topology: Topology; ghosts: Ghosts | null } {
  const present = new Set(topology.entities.map((e) => e.id));
  const ghosts: Entity[] = diff.entities.removed
    .filter((e) => !present.has(e.id))
    .map((e) => ({ ...e, stale: true, health_status: "unknown" }));
  if (!ghosts.length) return { topology, ghosts: null };
  for (const ghost of ghosts) present.add(ghost.id);
  const edgeIds = new Set(topology.connections.map((c) => c.id));
  const edges: Connection[] = diff.connections.removed
    .filter((c) => !edgeIds.has(c.id) && present.has(c.source_id) && present.has(c.target_id));
  return {
    topology: { ...topology, entities: [...topology.entities, ...ghosts], connections: [...topology.connections, ...edges] },
    ghosts: { entities: new Set(ghosts.map((e) => e.id)), edges: new Set(edges.map((c) => c.id)) },
  };
}
