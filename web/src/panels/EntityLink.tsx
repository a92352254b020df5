// Links to entities and rows of events, shared by the side panel's tabs.
import type { Entity, InfraEvent } from "../api/types";
import { useGraph } from "../state/graphContext";
import { healthColour, kindStyle } from "../scene/mapping";
import { useUi } from "../state/ui";
import { relativeTime, SEVERITY_ICON } from "./format";
import { css } from "./Legend";
import { ShapeIcon } from "./ShapeIcon";

/** Select an entity and fly to it. */
export function useGoTo(): (id: string) => void {
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  return (id) => { select(id); fly(id); };
}

/** `known`: the entity as last seen, named when the map does not hold it (gone). */
export function EntityLink({ id, known }: { id: string; known?: Entity }) {
  const graph = useGraph();
  const go = useGoTo();
  const e = graph.entities.get(id) ?? known;
  return (
    <button type="button" className="link entity-link" onClick={() => go(id)} title={e ? `${kindStyle(e.kind).label} ${e.name}` : id}>
      {e ? <><ShapeIcon shape={kindStyle(e.kind).shape} colour={css(healthColour(e))} size={12} /> {e.name}</> : id}
    </button>
  );
}

export function EventRow({ event, fresh, gone }: { event: InfraEvent; fresh?: boolean; gone?: boolean }) {
  const go = useGoTo();
  const severity = event.severity ?? "info";
  return (
    <li className={`event sev-${severity}${fresh ? " fresh" : ""}${gone ? " gone" : ""}`} data-entity={event.entity_id} data-reason={event.reason} data-event={event.id}>
      <button type="button" onClick={() => go(event.entity_id)} title={`${event.entity_kind} ${event.entity_name}: ${event.message}`}>
        <span className="sev-icon" aria-label={severity}>{SEVERITY_ICON[severity]}</span>
        <span className="event-body">
          <span className="event-head"><b>{event.reason}</b> <span className="muted">{event.entity_name}{gone ? " (gone)" : ""}</span></span>
          <span className="event-msg">{event.message}{(event.count ?? 1) > 1 ? ` (×${event.count})` : ""}</span>
        </span>
        <time className="muted small" dateTime={new Date(event.timestamp * 1000).toISOString()}>{relativeTime(event.timestamp)}</time>
      </button>
    </li>
  );
}
