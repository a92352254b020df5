// Filters: a popover of chips (Esc or a click outside closes it; "Clear all"), the active
// filters as chips over the map (each one removable, unknown values marked), and a word
// when they leave the map empty.
import { useEffect, useRef } from "react";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { kindStyle } from "../scene/mapping";
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

const valueLabel = (field: Field, v: string) => (field === "kinds" ? kindStyle(v).label : v || "(none)");

function Chips({ field, values }: { field: Field; values: string[] }) {
  const active = useUi((s) => s.filters[field]);
  const setFilters = useUi((s) => s.setFilters);
  const toggle = (v: string) =>
    setFilters({ [field]: active.includes(v) ? active.filter((x) => x !== v) : [...active, v] });
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
  return (
    <div className="filter-menu" role="dialog" aria-label="Filters" data-testid="filters" ref={host}>
      <div className="filter-head">
        <b>Filters</b>
        <span>
          <button type="button" className="link" data-testid="clear-filters" onClick={() => setFilters({ ...EMPTY_FILTERS, q: useUi.getState().filters.q })}>Clear all</button>
          <button type="button" className="link" onClick={onClose}>Close</button>
        </span>
      </div>
      {FIELDS.map(({ field, title }) => (
        <div key={field}><h4>{title}</h4><Chips field={field} values={field === "health" ? HEALTH : sorted(values[field])} /></div>
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
  const active = FIELDS.flatMap(({ field, title }) => filters[field].map((v) => ({ field, title, v })));
  if (!active.length) return null;
  const values = known(graph);
  const empty = shown === 0 && graph.entities.size > 0;
  return (
    <div className="active-filters" data-testid="active-filters" data-obstacle>
      {empty && <span className="empty-note" data-testid="empty-note">Nothing on the map matches these filters.</span>}
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
