// The groups the map clusters by ("By namespace") and titles them with: a namespace, or,
// for what has none, the system it comes from (this host, Docker, NATS...).
import type { Entity } from "../api/types";

const SYSTEMS: Record<string, string> = {
  host: "This host",
  docker: "Docker",
  nats: "NATS",
  kubernetes: "Cluster-wide",
  otel: "Traced services",
  postgres: "PostgreSQL",
  prometheus: "Prometheus",
  synthetic: "Synthetic",
};

/** The group key: a namespace's key (a namespace groups with its members; `east|shop` and
 * `west|shop` are two groups), else `~system`. */
export function layoutGroup(entity: Entity): string {
  if (entity.kind === "namespace") return namespaceKey(entity.id, entity.name);
  if (entity.namespace) return namespaceKey(entity.id, entity.namespace, entity.attrs?.cluster);
  return `~${entity.sources?.[0] ?? "other"}`;
}

/** layoutGroup for the entities shown: what names a namespace but no cluster (a traced
 * service, a Git manifest) joins the first cluster's namespace of that name. */
export function layoutGroups(entities: Iterable<Entity>): (entity: Entity) => string {
  const first = new Map<string, string>();
  for (const e of entities) if (e.kind === "namespace" && !first.has(e.name)) first.set(e.name, namespaceKey(e.id, e.name));
  return (entity) => {
    const key = layoutGroup(entity);
    return first.get(key) ?? key;
  };
}

/** The site an entity comes from, for "By site" and the site filter: the agent's site
 * (`site:<name>` source), the kube context (`kubernetes:<context>`), else this machine. */
export function siteKey(entity: Entity): string {
  for (const source of entity.sources ?? []) {
    if (source.startsWith("site:")) return source.slice(5);
    if (source.startsWith("kubernetes:")) return source.slice(11);
  }
  return "local";
}

/** A namespace's key among several clusters: `shop` of one cluster is not another's. An id
 * without a cluster (a container's) keys by the cluster its source names (`attrs.cluster`),
 * else by the name alone. */
export function namespaceKey(id: string, namespace: string, cluster?: unknown): string {
  const site = clusterInId(id, namespace) ?? (typeof cluster === "string" && cluster ? cluster : null);
  return site ? `${site}|${namespace}` : namespace;
}

/** Namespace keys -> a value, findable by a member's key or, for members whose ids name no
 * cluster, by the namespace's name alone (the first cluster's). */
export function indexNamespaces<T>(entries: Iterable<[string, string, T]>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [id, name, value] of entries) {
    out.set(namespaceKey(id, name), value);
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** The cluster in a Kubernetes object's id (`pod:<cluster>/<namespace>/<name>`,
 * `namespace:<cluster>/<name>`); null for ids of another shape that name a namespace too
 * (a traced service's `service:otel/<namespace>/<name>`, a code package's). */
function clusterInId(id: string, namespace: string): string | null {
  if (id.startsWith("service:otel/")) return null;
  // By the slashes' places, not split(): this runs for every entity on every rebuild.
  const start = id.indexOf(":") + 1;
  const first = id.indexOf("/", start);
  if (first < 0) return null;
  const second = id.indexOf("/", first + 1);
  if (id.startsWith("namespace:")) return second < 0 ? id.slice(start, first) : null;
  if (second < 0 || id.indexOf("/", second + 1) >= 0) return null;
  const named = second - first - 1 === namespace.length && id.startsWith(namespace, first + 1);
  return named ? id.slice(start, first) : null;
}

/** The cluster (site) in an id like `pod:<cluster>/<namespace>/<name>`, if it has one. */
export function siteOf(id: string): string | null {
  const rest = id.slice(id.indexOf(":") + 1);
  const slash = rest.indexOf("/");
  return slash > 0 ? rest.slice(0, slash) : null;
}

/** A group's title: "shop · kubesim" (namespace, cluster), or the system's name. */
export function groupTitle(group: string, clusters: ReadonlyMap<string, string>): string {
  if (group.startsWith("~")) return SYSTEMS[group.slice(1)] ?? group.slice(1);
  const bar = group.indexOf("|");
  if (bar > 0) return `${group.slice(bar + 1)} · ${group.slice(0, bar)}`;
  const cluster = clusters.get(group);
  return cluster ? `${group} · ${cluster}` : group;
}

/** Namespace name -> its cluster, from the namespace entities shown. */
export function namespaceClusters(entities: Iterable<Entity>): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entities) {
    if (e.kind !== "namespace") continue;
    const site = siteOf(e.id);
    if (site) out.set(e.name, site);
  }
  return out;
}

export interface LabelGroups { clusters: Map<string, string>; layoutGroup: (entity: Entity) => string }

/** What the labels name groups by: the namespaces by cluster, and each entity's group. */
export function labelGroups(entities: Entity[]): LabelGroups {
  return { clusters: namespaceClusters(entities), layoutGroup: layoutGroups(entities) };
}
