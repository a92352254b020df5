// The top bar: search (Search.tsx), layout presets, filters and the connection indicator.
import { useState } from "react";
import { graph } from "../app";
import { kindStyle } from "../scene/mapping";
import { useUi } from "../state/ui";
import type { Filters, LayoutPreset } from "../state/url";
import { SearchBox } from "./Search";

export function ConnectionIndicator() {
  const status = useUi((s) => s.status);
  useUi((s) => s.graphRevision);
  const bad = graph.sources.filter((s) => s.state === "down" || s.state === "degraded");
  // A source that worked and failed leaves stale data on the map; one that never connected
  // (no cluster configured, no NATS here) has nothing on it and is only worth a mention.
  const staleSources = bad.filter((s) => s.state === "degraded" || s.last_ok != null);
  const absent = bad.filter((s) => !staleSources.includes(s));
  const stale = staleSources.length > 0 && status === "live";
  const names = (list: typeof bad) => list.map((s) => s.name).join(", ");
  const label = status !== "live" ? status
    : stale ? `stale source: ${names(staleSources)}`
    : absent.length ? `live · not connected: ${names(absent)}` : "live";
  const cls = status === "live" ? (stale ? "warn" : "ok") : status === "reconnecting" ? "bad" : "wait";
  return (
    <div className={`conn conn-${cls}`} data-testid="connection" data-status={status} role="status"
      title={bad.map((s) => `${s.name}: ${s.state} ${s.reason ?? ""}`).join("\n") || "all sources ok"}>
      <span className="dot" />
      {label}
    </div>
  );
}

const PRESETS: { id: LayoutPreset; label: string }[] = [
  { id: "force", label: "Force" }, { id: "namespace", label: "By namespace" }, { id: "kind", label: "By kind" },
];

function Chips({ field, values }: { field: keyof Omit<Filters, "q">; values: string[] }) {
  const active = useUi((s) => s.filters[field]);
  const setFilters = useUi((s) => s.setFilters);
  const toggle = (v: string) =>
    setFilters({ [field]: active.includes(v) ? active.filter((x) => x !== v) : [...active, v] });
  return (
    <div className="chips">
      {values.map((v) => (
        <button key={v} type="button" className={active.includes(v) ? "chip on" : "chip"} aria-pressed={active.includes(v)}
          data-filter={`${field}:${v}`} onClick={() => toggle(v)}>
          {field === "kinds" ? kindStyle(v).label : v || "(none)"}
        </button>
      ))}
    </div>
  );
}

function FilterMenu({ onClose }: { onClose: () => void }) {
  useUi((s) => s.graphRevision);
  const kinds = new Set<string>(), namespaces = new Set<string>(), sources = new Set<string>();
  for (const e of graph.entities.values()) {
    kinds.add(e.kind);
    if (e.namespace) namespaces.add(e.namespace);
    for (const s of e.sources ?? []) sources.add(s);
  }
  const sorted = (s: Set<string>) => [...s].sort().slice(0, 60);
  return (
    <div className="filter-menu" role="dialog" aria-label="Filters" data-testid="filters">
      <div className="filter-head"><b>Filters</b><button type="button" className="link" onClick={onClose}>close</button></div>
      <h4>Kind</h4><Chips field="kinds" values={sorted(kinds)} />
      <h4>Health</h4><Chips field="health" values={["ok", "warning", "critical", "unknown"]} />
      <h4>Source</h4><Chips field="sources" values={sorted(sources)} />
      <h4>Namespace</h4><Chips field="namespaces" values={sorted(namespaces)} />
    </div>
  );
}

export function TopBar() {
  const layout = useUi((s) => s.layout);
  const setLayout = useUi((s) => s.setLayout);
  const filters = useUi((s) => s.filters);
  const [menu, setMenu] = useState(false);
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
      <button type="button" className={count ? "filter-btn on" : "filter-btn"} data-testid="filter-button"
        aria-expanded={menu} onClick={() => setMenu(!menu)}>Filters{count ? ` · ${count}` : ""}</button>
      <ConnectionIndicator />
      {menu && <FilterMenu onClose={() => setMenu(false)} />}
    </header>
  );
}
