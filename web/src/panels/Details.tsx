// Details of the selection: health first (status and the checks' reasons), then its
// fields in words with units, labels, relations and recent events. A folded group says
// what it holds and can be expanded (and folded again).
import { useEffect, useState } from "react";
import { api } from "../api/http";
import type { Connection, Entity, EntityDetails } from "../api/types";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { ioText } from "../scene/fields";
import { healthColour, isSimulated, kindStyle } from "../scene/mapping";
import { isGhost, knownAt } from "../state/compare";
import { describeFold, foldKey, owners } from "../state/view";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { CodeLinks } from "./CodeLinks";
import { Drift } from "./Drift";
import { ExperimentButton } from "./Experiment";
import { EntityLink, EventRow } from "./EntityLink";
import { attrRows, edgeRateText, fieldLabel, fieldValue, statusText } from "./fields";
import { bytes, percent, relativeTime } from "./format";
import { css } from "./Legend";
import { ShapeIcon } from "./ShapeIcon";
import { stamp } from "./Timeline";

function Relations({ title, list, end }: { title: string; list: Connection[]; end: "source_id" | "target_id" }) {
  if (!list.length) return null;
  return (
    <>
      <h4>{title} ({list.length})</h4>
      <ul className="relations">
        {list.slice(0, 40).map((c) => (
          <li key={c.id}>
            <span className={`edge-kind ek-${c.kind}`}>{c.kind}</span> <EntityLink id={c[end]} />
            {(c.requests_per_sec != null || c.bytes_per_sec != null) && (
              <span className="muted"> {edgeRateText(c.kind, c.requests_per_sec, c.bytes_per_sec)}</span>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

/** The members of a fold group, found the way the view folds them. */
function foldMembers(graph: GraphStore, key: string): Entity[] {
  const parent = owners(graph.edges.values());
  return [...graph.entities.values()].filter((e) => foldKey(e, parent) === key);
}

function FoldedGroup({ id }: { id: string }) {
  const graph = useGraph();
  const expanded = useUi((s) => s.expanded.includes(id));
  const expand = useUi((s) => s.expand);
  const fold = useUi((s) => s.fold);
  const members = foldMembers(graph, id);
  const worst = (s: string) => members.filter((m) => !m.stale && m.health_status === s).length;
  return (
    <div className="details" data-testid="details" data-entity={id}>
      <h3 title={id}>{describeFold(id, members.length, (member) => graph.entities.get(member)?.name ?? null)}</h3>
      {expanded ? (
        <>
          <p className="muted">Expanded: each of them is on the map.</p>
          <button type="button" className="chip" data-testid="fold" onClick={() => fold(id)}>Fold them again</button>
        </>
      ) : (
        <>
          <p className="muted">Folded into one to keep the map within visualization.max_entities.</p>
          <button type="button" className="chip on" data-testid="expand" onClick={() => expand(id)}>Expand this group</button>
        </>
      )}
      <p className="small">
        {worst("critical") > 0 && <span className="c-critical">{worst("critical")} critical </span>}
        {worst("warning") > 0 && <span className="c-warning">{worst("warning")} warning </span>}
        <span className="c-ok">{worst("ok")} healthy</span>
      </p>
      <ul className="relations">{members.slice(0, 30).map((m) => <li key={m.id}><EntityLink id={m.id} /></li>)}</ul>
      {members.length > 30 && <p className="muted small">and {members.length - 30} more</p>}
    </div>
  );
}

function healthLine(e: Entity): string {
  const status = e.stale ? "stale" : e.health_status ?? "unknown";
  return status === "ok" ? "healthy" : status;
}

export function Details() {
  const graph = useGraph();
  const selected = useUi((s) => s.selected);
  const revision = useUi((s) => s.graphRevision);
  // Nothing selected, nothing follows the moment (a drag moves it 30 times a second).
  const shownAt = useTime((s) => (selected === null ? null : s.at));
  const diff = useTime((s) => s.diff);
  // A ghost (removed, shown by a comparison) is described as it was when last seen.
  const ghost = selected !== null && isGhost(selected, shownAt, diff) ? diff : null;
  const at = selected ? knownAt(selected, shownAt, diff) : shownAt;
  const [details, setDetails] = useState<EntityDetails | null>(null);
  const [error, setError] = useState<string | null>(null);
  const live = selected ? graph.entities.get(selected) : undefined;
  useEffect(() => {
    setDetails(null);
    setError(null);
    if (!selected || selected.startsWith("agg:")) return;
    let current = true;
    api.entity(selected, at).then((d) => current && setDetails(d)).catch((e: Error) => current && setError(e.message));
    return () => { current = false; };
  }, [selected, live?.updated_at, at]);
  void revision;
  if (!selected) return <p className="empty">Click something on the map, or press <kbd>/</kbd> to search.</p>;
  if (selected.startsWith("agg:")) return <FoldedGroup id={selected} />;
  const e = live ?? details?.entity;
  if (!e) return <p className="empty">{error ? `${selected} is gone (${error}).` : "Loading…"}</p>;
  const style = kindStyle(e.kind);
  const rows: [string, string][] = [
    ["Kind", style.label], ["Status", statusText(e)], ["Health", healthLine(e)],
    ...(e.namespace ? [["Namespace", e.namespace] as [string, string]] : []),
    ...(e.cpu_percent != null ? [["CPU", percent(e.cpu_percent)] as [string, string]] : []),
    ...(e.memory_bytes != null ? [["Memory", `${bytes(e.memory_bytes)}${e.memory_limit ? ` of ${bytes(e.memory_limit)}` : ""}`] as [string, string]] : []),
    ...(e.kind === "volume" ? [["I/O", ioText(e)] as [string, string]] : []),
    ["Sources", (e.sources ?? []).join(", ") || "–"],
    ...(e.created_at ? [["Created", relativeTime(e.created_at)] as [string, string]] : []),
    ...(e.updated_at ? [["Updated", relativeTime(e.updated_at)] as [string, string]] : []),
    ...attrRows(e),
    ...Object.entries(e.custom_metrics ?? {}).map(([k, v]) => [fieldLabel(k), fieldValue(k, v)] as [string, string]),
  ];
  return (
    <div className="details" data-testid="details" data-entity={e.id}>
      <h3>
        <ShapeIcon shape={style.shape} colour={css(healthColour(e))} size={18} /> <span title={e.name}>{e.name}</span>
        {isSimulated(e) && <span className="badge sim" title="from the synthetic source">simulated</span>}
        {e.stale && <span className="badge stale">stale</span>}
      </h3>
      <div className="muted small mono">{e.id}</div>
      {ghost && (
        <p className="ghost-note" data-testid="details-ghost">
          Removed between {stamp(ghost.from)} and {stamp(ghost.to)}: a ghost on the map. Shown as it was at {stamp(ghost.from)}.
        </p>
      )}
      {(e.health_reasons ?? []).length > 0 && (
        <ul className={`reasons h-${e.health_status}`}>{e.health_reasons!.map((r) => <li key={r}>{r}</li>)}</ul>
      )}
      <dl className="fields">
        {rows.map(([k, v], i) => <div key={`${k}-${i}`} data-field={k}><dt title={k}>{k}</dt><dd>{v}</dd></div>)}
      </dl>
      {Object.keys(e.labels ?? {}).length > 0 && (
        <>
          <h4>Labels</h4>
          <div className="labels-list">{Object.entries(e.labels!).map(([k, v]) => <code key={k}>{k}={v}</code>)}</div>
        </>
      )}
      <Drift entity={e} />
      <ExperimentButton entity={e} />
      <CodeLinks entity={e} />
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
