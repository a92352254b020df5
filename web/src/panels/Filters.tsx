// Filters: a popover of chips (Esc or a click outside closes it; "Clear all"), the active
// filters as chips over the map (each one removable, unknown values marked), and a word
// when they leave the map empty.
import { useEffect, useRef } from "react";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { kindStyle } from "../scene/mapping";
import { useInsight } from "../state/insight";
import { useUi } from "../state/ui";
import { EMPTY_FILTERS, type Filters } from "../state/url";

type Field = keyof Omit<Filters, "q" | "mode">;
const FIELDS: { field: Field; title: string }[] = [
  { field: "kinds", title: "Kind" }, { field: "health", title: "Health" }, { field: "sources", title: "Source" },
  { field: "namespaces", title: "Namespace" },
];
const HEALTH = ["ok", "warning", "critical", "unknown"];

/** Every value a filter could match on the map now. */
function known(graph: GraphStore): Record<Field, Set<string>> {
  const out = { kinds: new Set<string>(), namespaces: new Set<string>(), sources: new Set<string>(), health: new Set(HEALTH) };
  for (const e of graph.entities.values()) {
    out.kinds.add(e.kind);
    if (e.namespace) out.namespaces.add(e.namespace);
    for (const s of e.sources ?? []) out.sources.add(s);
  }
  return out;
}

const SITE = "site:";
const valueLabel = (field: Field, v: string) =>
  field === "kinds" ? kindStyle(v).label : field === "sources" && v.startsWith(SITE) ? `site ${v.slice(SITE.length)}` : v || "(none)";

function Chips({ field, values, sites = false }: { field: Field; values: string[]; sites?: boolean }) {
  const all = useUi((s) => s.filters[field]);
  // Site chips have a section of their own: each section shows its own active values.
  const active = field === "sources" ? all.filter((v) => v.startsWith(SITE) === sites) : all;
  const setFilters = useUi((s) => s.setFilters);
  const toggle = (v: string) =>
    setFilters({ [field]: all.includes(v) ? all.filter((x) => x !== v) : [...all, v] });
  return (
    <div className="chips">
      {[...new Set([...values, ...active])].map((v) => (
        <button key={v} type="button" className={active.includes(v) ? "chip on" : "chip"} aria-pressed={active.includes(v)}
          data-filter={`${field}:${v}`} onClick={() => toggle(v)}>
          {valueLabel(field, v)}
        </button>
      ))}
    </div>
  );
}

export function FilterMenu({ onClose, anchor }: { onClose: () => void; anchor: React.RefObject<HTMLElement | null> }) {
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const setFilters = useUi((s) => s.setFilters);
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const away = (ev: PointerEvent) => {
      const target = ev.target as Node;
      if (!host.current?.contains(target) && !anchor.current?.contains(target)) onClose();
    };
    const esc = (ev: KeyboardEvent) => { if (ev.key === "Escape") { ev.stopPropagation(); onClose(); } };
    window.addEventListener("pointerdown", away);
    window.addEventListener("keydown", esc, true);
    return () => { window.removeEventListener("pointerdown", away); window.removeEventListener("keydown", esc, true); };
  }, [onClose, anchor]);
  const values = known(graph);
  const sorted = (s: Set<string>) => [...s].sort().slice(0, 60);
  // Sites (federation: one source per agent's site) get chips of their own, over the rest.
  const sites = [...values.sources].filter((s) => s.startsWith(SITE)).sort();
  return (
    <div className="filter-menu" role="dialog" aria-label="Filters" data-testid="filters" ref={host}>
      <div className="filter-head">
        <b>Filters</b>
        <span>
          <button type="button" className="link" data-testid="clear-filters" onClick={() => setFilters({ ...EMPTY_FILTERS, q: useUi.getState().filters.q })}>Clear all</button>
          <button type="button" className="link" onClick={onClose}>Close</button>
        </span>
      </div>
      {sites.length > 0 && <div data-testid="site-filters"><h4>Site</h4><Chips field="sources" values={sites} sites /></div>}
      {FIELDS.map(({ field, title }) => (
        <div key={field}><h4>{title}</h4><Chips field={field} values={field === "health" ? HEALTH
          : field === "sources" ? sorted(values.sources).filter((s) => !s.startsWith(SITE)) : sorted(values[field])} /></div>
      ))}
    </div>
  );
}

/** The active filters over the map, each removable; unknown values say so. */
export function ActiveFilters() {
  const graph = useGraph();
  const filters = useUi((s) => s.filters);
  const setFilters = useUi((s) => s.setFilters);
  useUi((s) => s.graphRevision);
  const shown = useUi((s) => s.shown.nodes);
  const unusualOnly = useInsight((s) => s.unusualOnly);
  const setUnusualOnly = useInsight((s) => s.setUnusualOnly);
  const active = FIELDS.flatMap(({ field, title }) => filters[field].map((v) => ({ field, title, v })));
  if (!active.length && !unusualOnly) return null;
  const values = known(graph);
  const empty = shown === 0 && graph.entities.size > 0;
  return (
    <div className="active-filters" data-testid="active-filters" data-obstacle>
      {empty && <span className="empty-note" data-testid="empty-note">{active.length
        ? "Nothing on the map matches these filters."
        : "Nothing is unusual now: every series is within its expected band (or still being learned)."}</span>}
      {unusualOnly && (
        <button type="button" className="chip on" data-active="unusual" title="Show everything again"
          onClick={() => setUnusualOnly(false)}>Unusual now ✕</button>
      )}
      {active.map(({ field, title, v }) => {
        const unknown = !values[field].has(v);
        return (
          <button key={`${field}:${v}`} type="button" className={unknown ? "chip on unknown" : "chip on"} data-active={`${field}:${v}`}
            title={unknown ? `No entity has ${title.toLowerCase()} "${v}": remove this filter` : `Remove this filter`}
            onClick={() => setFilters({ [field]: filters[field].filter((x) => x !== v) })}>
            {title}: {valueLabel(field, v)}{unknown ? " (unknown)" : ""} ✕
          </button>
        );
      })}
      <button type="button" className="chip" onClick={() => setFilters({ ...EMPTY_FILTERS, q: filters.q })}>Clear all</button>
    </div>
  );
}
