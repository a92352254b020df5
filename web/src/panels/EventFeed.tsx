// The event feed: changes apart from alert transitions (their own lane), filters by
// severity and for the selected entity (and what it owns), and a highlight only for new
// problems, so that it still means something on a busy system.
import { useEffect, useMemo, useState } from "react";
import type { InfraEvent } from "../api/types";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { useUi } from "../state/ui";
import { EventRow } from "./EntityLink";

type Lane = "changes" | "alerts";

const SERIOUS = new Set(["warning", "error", "critical"]);
const FRESH_MS = 10_000;

export const isAlertEvent = (e: InfraEvent) => e.source === "alerts" || e.reason.startsWith("Alert");

/** The selection and everything it owns, down the "owns" edges. */
function ownedBy(graph: GraphStore, id: string): Set<string> {
  const children = new Map<string, string[]>();
  for (const edge of graph.edges.values()) {
    if (edge.kind !== "owns") continue;
    const list = children.get(edge.source_id) ?? [];
    list.push(edge.target_id);
    children.set(edge.source_id, list);
  }
  const out = new Set([id]);
  const queue = [id];
  while (queue.length) for (const child of children.get(queue.pop()!) ?? []) if (!out.has(child)) { out.add(child); queue.push(child); }
  return out;
}

export function EventFeed() {
  const graph = useGraph();
  const events = useUi((s) => s.events);
  const fresh = useUi((s) => s.freshEvents);
  const selected = useUi((s) => s.selected);
  const revision = useUi((s) => s.graphRevision);
  const [lane, setLane] = useState<Lane>("changes");
  const [serious, setSerious] = useState(false);
  const [mine, setMine] = useState(false);
  const [, tick] = useState(0);
  useEffect(() => { const t = setInterval(() => tick((n) => n + 1), 5000); return () => clearInterval(t); }, []);
  const related = useMemo(() => (selected ? ownedBy(graph, selected) : null), [graph, selected, revision]);
  const counts = { changes: 0, alerts: 0 };
  for (const e of events) counts[isAlertEvent(e) ? "alerts" : "changes"]++;
  const shown = events.filter((e) =>
    (lane === "alerts") === isAlertEvent(e) && (!serious || SERIOUS.has(e.severity ?? "info")) && (!mine || !related || related.has(e.entity_id)));
  const now = Date.now();
  const name = selected ? graph.entities.get(selected)?.name ?? selected : null;
  return (
    <div className="feed">
      <div className="feed-tools" role="toolbar" aria-label="Event filters">
        <div className="segmented" role="group" aria-label="Lane">
          <button type="button" className={lane === "changes" ? "on" : ""} aria-pressed={lane === "changes"} data-lane="changes" onClick={() => setLane("changes")}>
            Changes <span className="count">{counts.changes}</span>
          </button>
          <button type="button" className={lane === "alerts" ? "on" : ""} aria-pressed={lane === "alerts"} data-lane="alerts" onClick={() => setLane("alerts")}>
            Alert transitions <span className="count">{counts.alerts}</span>
          </button>
        </div>
        <button type="button" className={serious ? "chip on" : "chip"} aria-pressed={serious} data-filter="serious" onClick={() => setSerious(!serious)}>
          Warnings and worse
        </button>
        <button type="button" className={mine && name ? "chip on" : "chip"} aria-pressed={mine && !!name} disabled={!name} data-filter="selected"
          title={name ? `Only ${name} and what it owns` : "Select something on the map first"} onClick={() => setMine(!mine)}>
          {name ? `Only ${name}` : "Only the selection"}
        </button>
      </div>
      {shown.length === 0 ? <p className="empty">{events.length ? "No events match these filters." : "No events yet."}</p> : (
        <ul className="events" data-testid="event-feed" aria-live="polite">
          {shown.map((e) => (
            <EventRow key={e.id} event={e} gone={!graph.entities.has(e.entity_id)}
              fresh={SERIOUS.has(e.severity ?? "info") && fresh[e.id] !== undefined && now - fresh[e.id] < FRESH_MS} />
          ))}
        </ul>
      )}
    </div>
  );
}
