// What the map shows: the graph after filters, with aggregation beyond max_entities
// (pods and other numerous kinds folded into their owner or namespace, expandable),
// and path tracing (everything upstream and downstream of the selection).
import type { Connection, Entity, EntityKind, HealthStatus } from "../api/types";
import type { Filters } from "./url";
import { importCycles } from "./cycles";
import { projectTraffic } from "./projection";

export interface ViewNode {
  id: string;
  entity: Entity;
  /** Ids folded into this node when it is an aggregate. */
  members?: string[];
  /** Where a new node should appear: its owner (warm start). */
  near?: string;
}

export interface ViewEdge {
  id: string;
  source: string;
  target: string;
  edge: Connection;
  /** An import that is part of an import cycle (drawn apart). */
  cycle?: boolean;
  /** Runtime traffic drawn between the repositories that run as its ends (Both mode). */
  projected?: boolean;
}

export interface View {
  nodes: ViewNode[];
  edges: ViewEdge[];
  /** Entity id -> the view node showing it (itself or its aggregate). */
  shownAs: Map<string, string>;
  degree: Map<string, number>;
}

const HEALTH_ORDER: Record<HealthStatus, number> = { unknown: 0, ok: 1, warning: 2, critical: 3 };

export function matchesSearch(entity: Entity, q: string): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  if (entity.name.toLowerCase().includes(needle) || entity.id.toLowerCase().includes(needle)) return true;
  for (const [key, value] of Object.entries(entity.labels ?? {})) {
    if (`${key}=${value}`.toLowerCase().includes(needle)) return true;
  }
  return false;
}

/** The kinds Code Mode shows; Live Mode shows every other kind. */
export const CODE_KINDS: ReadonlySet<string> = new Set(["repository", "package", "module"]);

export function matchesFilters(entity: Entity, f: Filters): boolean {
  if (f.mode !== "both" && CODE_KINDS.has(entity.kind) !== (f.mode === "code")) return false;
  if (f.kinds.length && !f.kinds.includes(entity.kind)) return false;
  if (f.namespaces.length && !f.namespaces.includes(entity.namespace ?? "")) return false;
  if (f.sources.length && !(entity.sources ?? []).some((s) => f.sources.includes(s))) return false;
  if (f.health.length) {
    const status = entity.stale ? "unknown" : entity.health_status ?? "unknown";
    if (!f.health.includes(status)) return false;
  }
  return true;
}

// Kinds that are many and alike: folded first when the map is over max_entities.
const FOLDABLE: EntityKind[] = ["process", "container", "pod", "nats_consumer", "nats_subject", "replicaset", "configmap", "secret", "volume", "module"];

/** The top owner of each entity, along "owns" edges (pod <- replicaset <- deployment). */
export function owners(edges: Iterable<Connection>): Map<string, string> {
  const parent = new Map<string, string>();
  for (const edge of edges) if (edge.kind === "owns") parent.set(edge.target_id, edge.source_id);
  return parent;
}

function topOwner(id: string, parent: Map<string, string>): string | null {
  let current = parent.get(id) ?? null;
  for (let hops = 0; current && hops < 8; hops++) {
    const up = parent.get(current);
    if (!up) break;
    current = up;
  }
  return current;
}

/** The group an entity folds into when the map is over max_entities (null: never folds). */
export function foldKey(entity: Entity, parent: Map<string, string>): string | null {
  if (!FOLDABLE.includes(entity.kind)) return null;
  // Modules fold into their own package (a folder), not the whole repository.
  const owner = entity.kind === "module" ? parent.get(entity.id) ?? null : topOwner(entity.id, parent);
  return `agg:${entity.kind}:${owner ?? `ns/${entity.namespace ?? "-"}`}`;
}

/** What a folded group is, in words: "31 pods of namespace shop" (the key says what). */
export function describeFold(key: string, count: number, name: (id: string) => string | null): string {
  const [, kind, ...rest] = key.split(":");
  const owner = rest.join(":");
  const what = `${count} ${kind.replace(/_/g, " ")}${count === 1 ? "" : "s"}`;
  if (owner.startsWith("ns/")) return owner === "ns/-" ? what : `${what} in namespace ${owner.slice(3)}`;
  const ownerKind = owner.slice(0, owner.indexOf(":")).replace(/_/g, " ");
  return `${what} of ${ownerKind} ${name(owner) ?? owner.slice(owner.indexOf(":") + 1)}`;
}

function aggregateEntity(key: string, members: Entity[]): Entity {
  const kind = members[0].kind;
  let worst: HealthStatus = "unknown";
  let sum = 0;
  let scored = 0;
  for (const m of members) {
    const status = m.health_status ?? "unknown";
    if (HEALTH_ORDER[status] > HEALTH_ORDER[worst]) worst = status;
    if (m.health != null) { sum += m.health; scored += 1; }
  }
  return {
    id: key,
    kind,
    name: `${members.length} ${kind}s`,
    namespace: members[0].namespace,
    health: scored ? sum / scored : null,
    health_status: worst,
    attrs: { aggregate: members.length },
    sources: [...new Set(members.flatMap((m) => m.sources ?? []))],
  };
}

export function buildView(
  entities: Map<string, Entity>,
  edges: Map<string, Connection>,
  filters: Filters,
  maxEntities: number,
  expanded: ReadonlySet<string>,
  only: ReadonlySet<string> | null = null,
): View {
  const visible: Entity[] = [];
  for (const entity of entities.values()) {
    if (matchesFilters(entity, filters) && (only === null || only.has(entity.id))) visible.push(entity);
  }
  const parent = owners(edges.values());
  const shownAs = new Map<string, string>();
  const nodes: ViewNode[] = [];

  // Fold groups (kind, top owner or namespace), the largest first, until under the limit.
  const folded = new Map<string, Entity[]>();
  if (visible.length > maxEntities) {
    const groups = new Map<string, Entity[]>();
    for (const entity of visible) {
      const key = foldKey(entity, parent);
      if (!key) continue;
      if (expanded.has(key)) continue;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = []));
      group.push(entity);
    }
    let count = visible.length;
    for (const [key, group] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      if (count <= maxEntities) break;
      if (group.length < 2) continue;
      folded.set(key, group);
      count -= group.length - 1;
    }
  }
  for (const [key, group] of folded) {
    const owner = topOwner(group[0].id, parent);
    nodes.push({ id: key, entity: aggregateEntity(key, group), members: group.map((e) => e.id), near: owner ?? undefined });
    for (const m of group) shownAs.set(m.id, key);
  }
  for (const entity of visible) {
    if (shownAs.has(entity.id)) continue;
    shownAs.set(entity.id, entity.id);
    nodes.push({ id: entity.id, entity, near: parent.get(entity.id) });
  }

  const viewEdges: ViewEdge[] = [];
  const cyclic = filters.mode === "live" ? new Set<string>() : importCycles(edges.values());
  const seen = new Set<string>();
  const degree = new Map<string, number>();
  for (const edge of edges.values()) {
    const source = shownAs.get(edge.source_id);
    const target = shownAs.get(edge.target_id);
    if (!source || !target || source === target) continue;
    const id = source === edge.source_id && target === edge.target_id ? edge.id : `${edge.kind}:${source}->${target}`;
    if (seen.has(id)) continue;
    seen.add(id);
    viewEdges.push(edge.kind === "imports" && cyclic.has(edge.id) ? { id, source, target, edge, cycle: true } : { id, source, target, edge });
    degree.set(source, (degree.get(source) ?? 0) + 1);
    degree.set(target, (degree.get(target) ?? 0) + 1);
  }
  if (filters.mode === "both") {
    for (const edge of projectTraffic(edges.values(), parent, shownAs)) {
      if (seen.has(edge.id)) continue;
      seen.add(edge.id);
      viewEdges.push(edge);
    }
  }
  return { nodes, edges: viewEdges, shownAs, degree };
}

/** Everything upstream and downstream of `id` (directed walks both ways), with `id`. */
export function tracePath(id: string, edges: ViewEdge[]): Set<string> {
  const out = new Map<string, string[]>();
  const inc = new Map<string, string[]>();
  for (const e of edges) {
    (out.get(e.source) ?? out.set(e.source, []).get(e.source)!).push(e.target);
    (inc.get(e.target) ?? inc.set(e.target, []).get(e.target)!).push(e.source);
  }
  const result = new Set<string>([id]);
  for (const adjacency of [out, inc]) {
    const queue = [id];
    const seen = new Set<string>([id]);
    while (queue.length) {
      const current = queue.pop()!;
      for (const next of adjacency.get(current) ?? []) {
        if (seen.has(next)) continue;
        seen.add(next);
        result.add(next);
        queue.push(next);
      }
    }
  }
  return result;
}
