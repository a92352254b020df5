// Search (focus with "/"), layout presets, filters and the connection indicator.
import { useEffect, useMemo, useRef, useState } from "react";
import { graph } from "../app";
import { kindStyle } from "../scene/mapping";
import { useUi } from "../state/ui";
import { matchesSearch } from "../state/view";
import type { Filters, LayoutPreset } from "../state/url";

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

function SearchBox() {
  const q = useUi((s) => s.filters.q);
  const setFilters = useUi((s) => s.setFilters);
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const requestFit = useUi((s) => s.requestFit);
  const input = useRef<HTMLInputElement>(null);
  const [open, setOpen] = useState(false);
  useUi((s) => s.graphRevision);
  useEffect(() => {
    const key = (ev: KeyboardEvent) => {
      const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
      if (ev.key === "/" && !typing) { ev.preventDefault(); input.current?.focus(); input.current?.select(); }
      // Esc leaves the search box; outside it, it lets go of the selection and shows the whole map.
      if (ev.key === "Escape") { input.current?.blur(); if (!typing) { select(null); requestFit(); } }
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [select, requestFit]);
  const matches = useMemo(() => {
    if (!q) return [];
    // Exact names first, then prefixes, then the rest.
    const needle = q.toLowerCase();
    const rank = (name: string) => (name.toLowerCase() === needle ? 0 : name.toLowerCase().startsWith(needle) ? 1 : 2);
    const out = [];
    for (const e of graph.entities.values()) {
      if (matchesSearch(e, q)) out.push(e);
      if (out.length >= 500) break;
    }
    return out.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name)).slice(0, 8);
  }, [q, graph.revision]); // eslint-disable-line react-hooks/exhaustive-deps
  const choose = (id: string) => { select(id); fly(id); setOpen(false); input.current?.blur(); };
  return (
    <div className="search">
      <input
        ref={input}
        type="search"
        placeholder="Search name or label=value   ( / )"
        aria-label="Search entities"
        data-testid="search"
        value={q}
        onChange={(ev) => { setFilters({ q: ev.target.value }); setOpen(true); }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={(ev) => { if (ev.key === "Enter" && matches[0]) choose(matches[0].id); }}
      />
      {open && matches.length > 0 && (
        <ul className="search-results" role="listbox" data-testid="search-results">
          {matches.map((e) => (
            <li key={e.id} role="option" aria-selected="false" data-id={e.id} onMouseDown={() => choose(e.id)}>
              <span className="kind">{kindStyle(e.kind).label}</span> {e.name}
              {e.namespace && <span className="muted"> · {e.namespace}</span>}
            </li>
          ))}
        </ul>
      )}
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
