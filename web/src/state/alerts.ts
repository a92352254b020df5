// Alerts as incidents: one entry per root workload (a crash loop raises alerts on the
// container, its pod, replica set and deployment: one incident), worst first, firing
// apart from pending, each rule by its title.
import type { Alert, Severity } from "../api/types";
import { incidentRoot } from "./incidents";

const SEVERITY: Record<Severity, number> = { critical: 3, error: 2, warning: 1, info: 0 };

export interface Incident {
  /** The root workload's id (what to select and fly to). */
  root: string;
  severity: Severity;
  /** Firing when any of its alerts fires; pending while all of them wait. */
  state: "firing" | "pending";
  alerts: Alert[];
  started: number;
  /** Rule titles, worst first, without repeats. */
  titles: string[];
}

export function ruleTitle(rule: string, titles: Record<string, string>): string {
  if (titles[rule]) return titles[rule];
  const words = rule.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function groupIncidents(
  alerts: Alert[], parent: (id: string) => string | undefined, kindOf: (id: string) => string | undefined,
  titles: Record<string, string>,
): Incident[] {
  const byRoot = new Map<string, Alert[]>();
  for (const alert of alerts) {
    if (alert.state === "resolved") continue;
    const root = incidentRoot(alert.entity_id, parent, kindOf);
    const list = byRoot.get(root) ?? [];
    list.push(alert);
    byRoot.set(root, list);
  }
  const incidents: Incident[] = [];
  for (const [root, list] of byRoot) {
    list.sort((a, b) => SEVERITY[b.severity] - SEVERITY[a.severity] || a.started_at - b.started_at);
    const firing = list.filter((a) => a.state === "firing");
    // The incident's severity is that of what fires (pending alerts may never fire).
    const counted = firing.length ? firing : list;
    incidents.push({
      root,
      severity: counted.reduce((worst, a) => (SEVERITY[a.severity] > SEVERITY[worst] ? a.severity : worst), counted[0].severity),
      state: firing.length ? "firing" : "pending",
      alerts: list,
      started: Math.min(...list.map((a) => a.started_at)),
      titles: [...new Set(list.map((a) => ruleTitle(a.rule, titles)))],
    });
  }
  return incidents.sort((a, b) =>
    (a.state === b.state ? 0 : a.state === "firing" ? -1 : 1) || SEVERITY[b.severity] - SEVERITY[a.severity] || a.started - b.started);
}
