// Search (focus with "/"): ranked results that say where each one is, arrow keys to move
// through them, Enter to go, a count of all matches and a word when there are none.
import { useEffect, useMemo, useRef, useState } from "react";
import { useGraph } from "../state/graphContext";
import { kindStyle } from "../scene/mapping";
import { search, whereabouts } from "../state/search";
import { useUi } from "../state/ui";

export function SearchBox() {
  const graph = useGraph();
  const q = useUi((s) => s.filters.q);
  const setFilters = useUi((s) => s.setFilters);
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const requestFit = useUi((s) => s.requestFit);
  const revision = useUi((s) => s.graphRevision);
  const input = useRef<HTMLInputElement>(null);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
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
  const result = useMemo(() => search(graph.entities.values(), q), [graph, q, revision]);
  useEffect(() => setActive(0), [q]);
  const choose = (id: string) => { select(id); fly(id); setOpen(false); input.current?.blur(); };
  const onKeyDown = (ev: React.KeyboardEvent) => {
    const n = result.entities.length;
    if (ev.key === "ArrowDown" && n) { ev.preventDefault(); setOpen(true); setActive((active + 1) % n); }
    if (ev.key === "ArrowUp" && n) { ev.preventDefault(); setOpen(true); setActive((active - 1 + n) % n); }
    if (ev.key === "Enter" && result.entities[active]) choose(result.entities[active].id);
  };
  const shown = result.entities.length;
  return (
    <div className="search">
      <input
        ref={input}
        type="search"
        placeholder="Search name or label=value   ( / )"
        aria-label="Search entities"
        role="combobox"
        aria-expanded={open && q.length > 0}
        aria-controls="search-results"
        aria-activedescendant={open && shown ? `search-option-${active}` : undefined}
        data-testid="search"
        value={q}
        onChange={(ev) => { setFilters({ q: ev.target.value }); setOpen(true); }}
        onFocus={() => setOpen(true)}
        // Closed a moment later (a click on a result lands first), unless the box has the
        // focus again by then: "/" right after Enter chose a result reopened it, and the
        // timer closed it under the user's typing (a loaded CI machine saw it).
        onBlur={() => setTimeout(() => { if (document.activeElement !== input.current) setOpen(false); }, 150)}
        onKeyDown={onKeyDown}
      />
      {open && q.trim() && (
        <ul className="search-results" role="listbox" id="search-results" data-testid="search-results">
          {result.entities.map((e, i) => {
            const where = whereabouts(e);
            const kind = kindStyle(e.kind).label;
            return (
              <li key={e.id} id={`search-option-${i}`} role="option" aria-selected={i === active} className={i === active ? "active" : ""}
                data-id={e.id} title={`${e.name} — ${kind}${where ? ` · ${where}` : ""}`}
                onMouseEnter={() => setActive(i)} onMouseDown={() => choose(e.id)}>
                <span className="kind">{kind}</span> <span className="name">{e.name}</span>
                {where && <span className="where muted">{where}</span>}
              </li>
            );
          })}
          <li className="search-count muted" role="presentation" data-testid="search-count">
            {result.total === 0 ? `No matches for “${q.trim()}”`
              : shown < result.total ? `${shown} of ${result.total} matches: type more to narrow · ↑↓ Enter`
              : `${result.total} ${result.total === 1 ? "match" : "matches"} · ↑↓ Enter`}
          </li>
        </ul>
      )}
    </div>
  );
}
