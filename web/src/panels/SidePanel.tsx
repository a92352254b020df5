// The side panel (a bottom sheet on phones): details of the selection, the event feed,
// the alerts. Tabs are buttons with aria roles, reachable by keyboard.
import { useEffect, useState } from "react";
import { api } from "../api/http";
import type { Connection, EntityDetails, InfraEvent } from "../api/types";
import { graph } from "../app";
import { healthColour, isSimulated, kindStyle } from "../scene/mapping";
import { useUi, type Tab } from "../state/ui";
import { bytes, percent, relativeTime, SEVERITY_ICON } from "./format";
import { css } from "./Legend";
import { ShapeIcon } from "./ShapeIcon";

function EntityLink({ id }: { id: string }) {
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const e = graph.entities.get(id);
  return (
    <button type="button" className="link entity-link" onClick={() => { select(id); fly(id); }}>
      {e ? <><ShapeIcon shape={kindStyle(e.kind).shape} colour={css(healthColour(e))} size={12} /> {e.name}</> : id}
    </button>
  );
}

function Relations({ title, list, end }: { title: string; list: Connection[]; end: "source_id" | "target_id" }) {
  if (!list.length) return null;
  return (
    <>
      <h4>{title} ({list.length})</h4>
      <ul className="relations">
        {list.slice(0, 40).map((c) => (
          <li key={c.id}>
            <span className={`edge-kind ek-${c.kind}`}>{c.kind}</span> <EntityLink id={c[end]} />
            {c.requests_per_sec != null && <span className="muted"> {c.requests_per_sec.toFixed(1)} req/s</span>}
          </li>
        ))}
      </ul>
    </>
  );
}

function EventRow({ event, fresh }: { event: InfraEvent; fresh?: boolean }) {
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const severity = event.severity ?? "info";
  return (
    <li className={`event sev-${severity}${fresh ? " fresh" : ""}`} data-entity={event.entity_id}>
      <button type="button" onClick={() => { select(event.entity_id); fly(event.entity_id); }}>
        <span className="sev-icon" aria-label={severity}>{SEVERITY_ICON[severity]}</span>
        <span className="event-body">
          <span className="event-head"><b>{event.reason}</b> <span className="muted">{event.entity_name}</span></span>
          <span className="event-msg">{event.message}{(event.count ?? 1) > 1 ? ` (×${event.count})` : ""}</span>
        </span>
        <time className="muted small" dateTime={new Date(event.timestamp * 1000).toISOString()}>{relativeTime(event.timestamp)}</time>
      </button>
    </li>
  );
}

function Details() {
  const selected = useUi((s) => s.selected);
  const expand = useUi((s) => s.expand);
  const revision = useUi((s) => s.graphRevision);
  const [details, setDetails] = useState<EntityDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const live = selected ? graph.entities.get(selected) : undefined;
  useEffect(() => {
    setDetails(null);
    setError(null);
    if (!selected || selected.startsWith("agg:")) return;
    let current = true;
    api.entity(selected).then((d) => current && setDetails(d)).catch((e: Error) => current && setError(e.message));
    return () => { current = false; };
  }, [selected, live?.updated_at]);
  void revision;
  if (!selected) return <p className="empty">Click something on the map, or press <kbd>/</kbd> to search.</p>;
  if (selected.startsWith("agg:")) {
    return (
      <div className="details">
        <h3>Folded group</h3>
        <p className="muted">{selected.slice(4)} — folded to keep the map within visualization.max_entities.</p>
        <button type="button" className="chip on" onClick={() => expand(selected)}>Expand this group</button>
      </div>
    );
  }
  const e = live ?? details?.entity;
  if (!e) return <p className="empty">{error ? `${selected} is gone (${error}).` : "Loading…"}</p>;
  const style = kindStyle(e.kind);
  const rows: [string, string][] = [
    ["Kind", style.label], ["Status", e.status ?? "unknown"],
    ["Health", `${e.stale ? "stale" : e.health_status ?? "unknown"}${e.health != null ? ` (${Math.round(e.health * 100)})` : ""}`],
    ...(e.namespace ? [["Namespace", e.namespace] as [string, string]] : []),
    ...(e.cpu_percent != null ? [["CPU", percent(e.cpu_percent)] as [string, string]] : []),
    ...(e.memory_bytes != null ? [["Memory", `${bytes(e.memory_bytes)}${e.memory_limit ? ` / ${bytes(e.memory_limit)}` : ""}`] as [string, string]] : []),
    ["Sources", (e.sources ?? []).join(", ") || "–"],
    ...(e.created_at ? [["Created", relativeTime(e.created_at)] as [string, string]] : []),
    ...(e.updated_at ? [["Updated", relativeTime(e.updated_at)] as [string, string]] : []),
    ...Object.entries(e.attrs ?? {}).map(([k, v]) => [k, String(v)] as [string, string]),
    ...Object.entries(e.custom_metrics ?? {}).map(([k, v]) => [k, Number.isInteger(v) ? String(v) : v.toFixed(2)] as [string, string]),
  ];
  return (
    <div className="details" data-testid="details" data-entity={e.id}>
      <h3>
        <ShapeIcon shape={style.shape} colour={css(healthColour(e))} size={18} /> {e.name}
        {isSimulated(e) && <span className="badge sim" title="from the synthetic source">simulated</span>}
        {e.stale && <span className="badge stale">stale</span>}
      </h3>
      <div className="muted small mono">{e.id}</div>
      {(e.health_reasons ?? []).length > 0 && (
        <ul className="reasons">{e.health_reasons!.map((r) => <li key={r}>{r}</li>)}</ul>
      )}
      <dl className="fields">
        {rows.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
      </dl>
      {Object.keys(e.labels ?? {}).length > 0 && (
        <>
          <h4>Labels</h4>
          <div className="labels-list">{Object.entries(e.labels!).map(([k, v]) => <code key={k}>{k}={v}</code>)}</div>
        </>
      )}
      {(e.endpoints ?? []).length > 0 && (<><h4>Endpoints</h4><div className="labels-list">{e.endpoints!.map((x) => <code key={x}>{x}</code>)}</div></>)}
      {details && <Relations title="Incoming" list={details.incoming} end="source_id" />}
      {details && <Relations title="Outgoing" list={details.outgoing} end="target_id" />}
      {details && details.events.length > 0 && (
        <>
          <h4>Recent events</h4>
          <ul className="events">{details.events.slice(0, 15).map((ev) => <EventRow key={ev.id} event={ev} />)}</ul>
        </>
      )}
    </div>
  );
}

function EventFeed() {
  const events = useUi((s) => s.events);
  const fresh = useUi((s) => s.freshEvents);
  const [, tick] = useState(0);
  useEffect(() => { const t = setInterval(() => tick((n) => n + 1), 5000); return () => clearInterval(t); }, []);
  if (!events.length) return <p className="empty">No events yet.</p>;
  const now = Date.now();
  return (
    <ul className="events" data-testid="event-feed" aria-live="polite">
      {events.map((e) => <EventRow key={e.id} event={e} fresh={fresh[e.id] !== undefined && now - fresh[e.id] < 10000} />)}
    </ul>
  );
}

function Alerts() {
  const alerts = useUi((s) => s.alerts);
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const firing = alerts.filter((a) => a.state !== "resolved");
  if (!firing.length) return <p className="empty">No alerts firing.</p>;
  return (
    <ul className="events" data-testid="alerts">
      {firing.map((a) => (
        <li key={a.id} className={`event sev-${a.severity}`}>
          <button type="button" onClick={() => { select(a.entity_id); fly(a.entity_id); }}>
            <span className="sev-icon">{SEVERITY_ICON[a.severity]}</span>
            <span className="event-body">
              <span className="event-head"><b>{a.rule}</b> <span className="muted">{a.entity_name}</span></span>
              <span className="event-msg">{a.message}</span>
              {(a.blast_radius ?? []).length > 0 && <span className="muted small">touches {a.blast_radius!.length} more</span>}
            </span>
            <time className="muted small">{a.state} · {relativeTime(a.started_at)}</time>
          </button>
        </li>
      ))}
    </ul>
  );
}

const TABS: { id: Tab; label: string }[] = [
  { id: "details", label: "Details" }, { id: "events", label: "Events" }, { id: "alerts", label: "Alerts" },
];

export function SidePanel() {
  const tab = useUi((s) => s.tab);
  const setTab = useUi((s) => s.setTab);
  const sheetOpen = useUi((s) => s.sheetOpen);
  const setSheetOpen = useUi((s) => s.setSheetOpen);
  const alerts = useUi((s) => s.alerts.filter((a) => a.state !== "resolved").length);
  const events = useUi((s) => s.events.length);
  return (
    <aside className={sheetOpen ? "side open" : "side"} aria-label="Panels" data-testid="side" data-obstacle>
      <button type="button" className="sheet-handle" aria-expanded={sheetOpen} onClick={() => setSheetOpen(!sheetOpen)}>
        <span />{sheetOpen ? "Hide" : "Details · Events · Alerts"}
      </button>
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t.id} type="button" role="tab" aria-selected={tab === t.id} className={tab === t.id ? "on" : ""}
            data-tab={t.id} onClick={() => { setTab(t.id); setSheetOpen(true); }}>
            {t.label}
            {t.id === "alerts" && alerts > 0 && <span className="count bad">{alerts}</span>}
            {t.id === "events" && events > 0 && <span className="count">{events}</span>}
          </button>
        ))}
      </div>
      <div className="tab-body" role="tabpanel">
        {tab === "details" && <Details />}
        {tab === "events" && <EventFeed />}
        {tab === "alerts" && <Alerts />}
      </div>
    </aside>
  );
}
