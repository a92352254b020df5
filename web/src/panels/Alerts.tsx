// Alerts as incidents (state/alerts.ts): firing first, worst first, pending apart; each
// incident named by its root workload, its rules by their titles, every name whole on hover.
import { useMemo } from "react";
import type { Alert } from "../api/types";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { kindStyle } from "../scene/mapping";
import { groupIncidents, type Incident, ruleTitle } from "../state/alerts";
import { useUi } from "../state/ui";
import { owners } from "../state/view";
import { useGoTo } from "./EntityLink";
import { relativeTime, SEVERITY_ICON } from "./format";

/** Incidents from the alerts not yet resolved; recomputed when alerts or the graph change. */
export function useIncidents(): Incident[] {
  const graph = useGraph();
  const alerts = useUi((s) => s.alerts);
  const checks = useUi((s) => s.checks);
  const revision = useUi((s) => s.graphRevision);
  return useMemo(() => {
    // Owners only when an alert asks: going over every edge 4 times a second cost the
    // page more than the alerts at 20,000 edges (and there are often none).
    let parent: Map<string, string> | null = null;
    const kindOf = (id: string) => graph.entities.get(id)?.kind ?? id.slice(0, id.indexOf(":"));
    return groupIncidents(alerts, (id) => (parent ??= owners(graph.edges.values())).get(id), kindOf, checks);
  }, [graph, alerts, checks, revision]);
}

function where(graph: GraphStore, id: string, alert?: Alert): { name: string; kind: string; namespace: string | null } {
  const e = graph.entities.get(id);
  const kind = e?.kind ?? alert?.entity_kind ?? id.slice(0, id.indexOf(":"));
  return { name: e?.name ?? alert?.entity_name ?? id, kind: kindStyle(kind).label, namespace: e?.namespace ?? null };
}

function IncidentRow({ incident }: { incident: Incident }) {
  const graph = useGraph();
  const go = useGoTo();
  const checks = useUi((s) => s.checks);
  const root = where(graph, incident.root, incident.alerts.find((a) => a.entity_id === incident.root));
  const onWhat = [...new Set(incident.alerts.map((a) => where(graph, a.entity_id, a).kind.toLowerCase()))];
  const full = `${root.kind} ${root.name}${root.namespace ? ` in ${root.namespace}` : ""}\n` +
    incident.alerts.map((a) => `${ruleTitle(a.rule, checks)} on ${where(graph, a.entity_id, a).kind.toLowerCase()} ${where(graph, a.entity_id, a).name}: ${a.message}`).join("\n");
  return (
    <li className={`event incident sev-${incident.severity}`} data-root={incident.root} data-state={incident.state}>
      <button type="button" onClick={() => go(incident.root)} title={full}>
        <span className="sev-icon" aria-label={incident.severity}>{SEVERITY_ICON[incident.severity]}</span>
        <span className="event-body">
          <span className="event-head"><b>{root.name}</b> <span className="muted">{root.kind}{root.namespace ? ` · ${root.namespace}` : ""}</span></span>
          <span className="event-msg">{incident.titles.join(" · ")}</span>
          <span className="muted small">{incident.alerts.length} {incident.alerts.length === 1 ? "alert" : "alerts"} on {onWhat.join(", ")}</span>
        </span>
        <time className="muted small">{relativeTime(incident.started)}</time>
      </button>
    </li>
  );
}

export function Alerts() {
  const incidents = useIncidents();
  const firing = incidents.filter((i) => i.state === "firing");
  const pending = incidents.filter((i) => i.state === "pending");
  if (!incidents.length) return <p className="empty">No alerts firing.</p>;
  return (
    <div data-testid="alerts">
      <h4 className="section">Firing <span className="count">{firing.length}</span></h4>
      {firing.length ? <ul className="events" data-testid="alerts-firing">{firing.map((i) => <IncidentRow key={i.root} incident={i} />)}</ul>
        : <p className="empty">Nothing firing.</p>}
      {pending.length > 0 && (
        <details className="pending">
          <summary><h4 className="section">Pending <span className="count">{pending.length}</span> <span className="muted small">conditions not yet held long enough to fire</span></h4></summary>
          <ul className="events" data-testid="alerts-pending">{pending.map((i) => <IncidentRow key={i.root} incident={i} />)}</ul>
        </details>
      )}
    </div>
  );
}
