// What each line of the compare list says beside an entity's name: its kind and where it is
// (namespace, pod, node, cluster or site: the details panel's terms), so that three
// containers called app-0 read as three. A gone entity is described as it was last seen:
// the diff carries it whole, and its pod (gone with it, usually) among the diff's removed.
import type { Connection, Entity } from "../api/types";
import { siteKey } from "./groups";
import type { TopologyDiff } from "./time";

export type Lookup = (id: string) => Entity | undefined;

const text = (v: unknown): string | null => (typeof v === "string" && v ? v : null);

/** Entity id -> the pod that owns it (an `owns` edge from a pod): a container's pod where
 * its source names none in `attrs.pod` (the synthetic source does not). */
export function podsOwning(edges: Iterable<Connection>, lookup: Lookup): Map<string, Entity> {
  const pods = new Map<string, Entity>();
  for (const edge of edges) {
    if (edge.kind !== "owns") continue;
    const owner = lookup(edge.source_id);
    if (owner?.kind === "pod") pods.set(edge.target_id, owner);
  }
  return pods;
}

/** Where `e` is, in the details panel's terms: namespace, pod, node, cluster or site. */
export function whereabouts(e: Entity, pod?: Entity): string[] {
  const attrs = e.attrs ?? {};
  const parts: string[] = [];
  if (e.namespace) parts.push(`namespace ${e.namespace}`);
  const podName = e.kind === "pod" ? null : text(attrs.pod) ?? pod?.name ?? null;
  if (podName) parts.push(`pod ${podName}`);
  const node = text(attrs.node) ?? text(pod?.attrs?.node);
  if (node) parts.push(`node ${node}`);
  const site = siteKey(e);
  if (site !== "local") parts.push(`site ${site}`);
  else {
    const cluster = text(attrs.cluster) ?? text(pod?.attrs?.cluster);
    if (cluster) parts.push(`cluster ${cluster}`);
  }
  return parts;
}

/**
 * Entity id -> what its line in the compare list says after the name: the kind and where
 * it is, the id too where two lines would otherwise read the same. Added and removed
 * entities are described as the diff carries them, changed ones as `lookup` (the map) has
 * them; `edges` are the map's, for the pods that own what the map shows.
 */
export function compareContext(diff: TopologyDiff, lookup: Lookup, edges: Iterable<Connection>): Map<string, string> {
  const gone = new Map(diff.entities.removed.map((e) => [e.id, e]));
  const known: Lookup = (id) => lookup(id) ?? gone.get(id);
  const pods = podsOwning(edges, known);
  for (const [id, pod] of podsOwning(diff.connections.removed, known)) if (!pods.has(id)) pods.set(id, pod);
  const entities = [
    ...diff.entities.added, ...diff.entities.removed,
    ...Object.keys(diff.entities.changed).map((id) => lookup(id)).filter((e): e is Entity => e !== undefined),
  ];
  const lines = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const e of entities) {
    const line = [e.kind, ...whereabouts(e, pods.get(e.id))].join(" · ");
    lines.set(e.id, line);
    const key = `${e.name}\u0000${line}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  for (const e of entities) {
    const line = lines.get(e.id)!;
    if ((seen.get(`${e.name}\u0000${line}`) ?? 0) > 1) lines.set(e.id, `${line} · ${e.id}`);
  }
  return lines;
}
