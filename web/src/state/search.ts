// Search results as an on-call engineer wants them: the thing they named first (an exact
// name before a prefix before a word inside before a label), the workload before its
// replica sets, pods and containers, and every row saying where it is.
import type { Entity } from "../api/types";
import { siteOf } from "./groups";
import { matchesSearch } from "./view";

/** Lower comes first: what one usually means by a name. */
const KIND_RANK: Record<string, number> = {
  deployment: 0, statefulset: 0, daemonset: 0, service: 1, ingress: 1, database: 1, nats_stream: 1,
  nats_subject: 2, namespace: 2, node: 2, nats_server: 2, job: 2, pod: 3, nats_consumer: 3,
  replicaset: 4, volume: 4, configmap: 5, secret: 5, container: 5, process: 5, network: 6,
};

/** 0 exact name, 1 prefix, 2 a word of the name, 3 inside the name, 4 id or label only. */
export function exactness(entity: Entity, q: string): number {
  const name = entity.name.toLowerCase();
  const needle = q.toLowerCase();
  if (name === needle) return 0;
  if (name.startsWith(needle)) return 1;
  const at = name.indexOf(needle);
  if (at > 0 && /[-._/:\s]/.test(name[at - 1])) return 2;
  return at >= 0 ? 3 : 4;
}

export interface SearchResult {
  entities: Entity[];
  /** All matches, of which `entities` are the first. */
  total: number;
}

export function search(all: Iterable<Entity>, q: string, limit = 8): SearchResult {
  if (!q.trim()) return { entities: [], total: 0 };
  const found: { e: Entity; rank: number }[] = [];
  for (const e of all) {
    if (!matchesSearch(e, q)) continue;
    found.push({ e, rank: exactness(e, q) * 10 + (KIND_RANK[e.kind] ?? 6) });
  }
  found.sort((a, b) => a.rank - b.rank || a.e.name.length - b.e.name.length || a.e.name.localeCompare(b.e.name));
  return { entities: found.slice(0, limit).map((f) => f.e), total: found.length };
}

/** Where an entity is, so that two rows of one name differ: namespace, pod, site. */
export function whereabouts(e: Entity): string {
  const parts: string[] = [];
  const pod = e.attrs?.["pod"];
  if (e.kind === "container" && typeof pod === "string") parts.push(`pod ${pod}`);
  if (e.namespace) parts.push(e.namespace);
  const site = siteOf(e.id);
  if (site && e.kind !== "container") parts.push(site);
  else if (!e.namespace && e.sources?.length) parts.push(e.sources[0]);
  return parts.join(" · ");
}
