// The map's health in the checks' own terms: counts by state, worst first. No averaged
// score: a mean of per-entity scores reads 98 while 18 things are critical.
import type { Entity, HealthStatus } from "../api/types";

export interface HealthCounts {
  total: number;
  ok: number;
  warning: number;
  critical: number;
  unknown: number;
}

export type Headline = { state: "critical" | "warning"; count: number } | { state: "ok" | "unknown"; count: number };

export function statusOf(e: Entity): HealthStatus {
  return e.stale ? "unknown" : e.health_status ?? "unknown";
}

/** Counts by state, overall and by kind; `leaveOut` names entities shown that are not of
 * the moment counted (a comparison's ghosts: removed before it). */
export function countHealth(entities: Iterable<Entity>, leaveOut?: ReadonlySet<string> | null): { all: HealthCounts; byKind: Map<string, HealthCounts> } {
  const empty = (): HealthCounts => ({ total: 0, ok: 0, warning: 0, critical: 0, unknown: 0 });
  const all = empty();
  const byKind = new Map<string, HealthCounts>();
  for (const e of entities) {
    if (leaveOut?.has(e.id)) continue;
    let k = byKind.get(e.kind);
    if (!k) byKind.set(e.kind, (k = empty()));
    const status = statusOf(e);
    all.total++; k.total++;
    all[status]++; k[status]++;
  }
  return { all, byKind };
}

/** What the headline says: the worst state there is, and how many are in it. */
export function headline(c: HealthCounts): Headline {
  if (c.critical) return { state: "critical", count: c.critical };
  if (c.warning) return { state: "warning", count: c.warning };
  if (c.ok) return { state: "ok", count: c.ok };
  return { state: "unknown", count: c.unknown };
}

/** Share of the entities whose checks pass, of those that were checked (0..100). */
export function healthyPercent(c: HealthCounts): number | null {
  const checked = c.ok + c.warning + c.critical;
  return checked ? Math.floor((c.ok / checked) * 100) : null;
}
