// The top bar: search (Search.tsx), layout presets, filters and the connection indicator.
import { useCallback, useRef, useState } from "react";
import { useGraph } from "../state/graphContext";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import type { LayoutPreset } from "../state/url";
import { ColourSwitch } from "./ColourSwitch";
import { FilterMenu } from "./Filters";
import { InsightControls } from "./Insight";
import { ModeSwitch } from "./ModeSwitch";
import { clock } from "./OutageBanner";
import { SearchBox } from "./Search";
import { useSnapshot } from "../live/snapshotFile";

export function ConnectionIndicator() {
  const graph = useGraph();
  const status = useUi((s) => s.status);
  const past = useTime((s) => s.at !== null);
  useUi((s) => s.graphRevision);
  const bad = graph.sources.filter((s) => s.state === "down" || s.state === "degraded");
  // A source that worked and failed leaves stale data on the map; one that never connected
  // (no cluster configured, no NATS here) has nothing on it and is only worth a mention.
  const staleSources = bad.filter((s) => s.state === "degraded" || s.last_ok != null);
  const absent = bad.filter((s) => !staleSources.includes(s));
  const stale = staleSources.length > 0 && status === "live";
  const names = (list: typeof bad) => list.map((s) => s.name).join(", ");
  const label = status === "reconnecting" ? "disconnected" : status !== "live" ? status
    : stale ? `stale source: ${names(staleSources)}`
    : absent.length ? `live · not connected: ${names(absent)}` : "live";
  const cls = status === "live" ? (stale ? "warn" : "ok") : status === "reconnecting" ? "bad" : "wait";
  // The tooltip speaks of the server first: with it gone, what the sources did is unknown.
  const since = graph.lastDataAt ? clock(graph.lastDataAt) : null;
  const title = status === "reconnecting" ? `No connection to the Gestalt server${since ? `; data as of ${since}` : ""}. Retrying.`
    : status === "connecting" ? "Connecting to the Gestalt server"
    : bad.map((s) => `${s.name}: ${s.state} ${s.reason ?? ""}`).join("\n") || "Connected; all sources ok";
  if (past) {
    // The live stream is paused while the map shows the past: say that, not how it stood.
    return (
      <div className="conn conn-wait" data-testid="connection" data-status="past" role="status"
        title="Showing a past moment: the live stream is paused. Back to live resumes it.">
        <span className="dot" />
        past
      </div>
    );
  }
  return (
    <div className={`conn conn-${cls}`} data-testid="connection" data-status={status} role="status" title={title}>
      <span className="dot" />
      {label}
    </div>
  );
}

const PRESETS: { id: LayoutPreset; label: string }[] = [
  { id: "force", label: "Force" }, { id: "namespace", label: "By namespace" }, { id: "kind", label: "By kind" },
  { id: "site", label: "By site" },
];

export function TopBar() {
  const layout = useUi((s) => s.layout);
  const setLayout = useUi((s) => s.setLayout);
  const filters = useUi((s) => s.filters);
  const [menu, setMenu] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const close = useCallback(() => setMenu(false), []);
  // A dropped snapshot file is not connected to anything: the badge says what it is.
  const fromFile = useSnapshot((s) => s.open?.origin === "file");
  const count = filters.kinds.length + filters.namespaces.length + filters.sources.length + filters.health.length;
  return (
    <header className="topbar">
      <div className="brand"><span className="logo">◈</span> Gestalt <b>Live</b></div>
      <SearchBox />
      <div className="presets" role="group" aria-label="Layout">
        {PRESETS.map((p) => (
          <button key={p.id} type="button" className={layout === p.id ? "on" : ""} aria-pressed={layout === p.id}
            data-layout={p.id} onClick={() => setLayout(p.id)}>{p.label}</button>
        ))}
      </div>
      <span className="filter-anchor">
        <button type="button" ref={button} className={count ? "filter-btn on" : "filter-btn"} data-testid="filter-button"
          aria-expanded={menu} onClick={() => setMenu(!menu)}>Filters{count ? ` · ${count}` : ""}</button>
        {menu && <FilterMenu onClose={close} anchor={button} />}
      </span>
      <ModeSwitch />
      <ColourSwitch />
      <InsightControls />
      {!fromFile && <ConnectionIndicator />}
    </header>
  );
}
