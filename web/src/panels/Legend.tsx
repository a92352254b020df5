// What the shapes, colours and lines mean; only the kinds on the map, plus health.
import { DRIFT_COLOURS, UNMANAGED } from "../scene/drift";
import { useColouring } from "../state/colouring";
import { costColour } from "../state/insight";
import { useState } from "react";
import { useGraph } from "../state/graphContext";
import { COLOURS, EDGE_KINDS, EDGE_STYLES, KIND_STYLES, type RGB } from "../scene/mapping";
import { kindTint } from "../scene/palette";
import { CHANGES, CHANGE_LABELS } from "../state/compare";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { ChangeMark } from "./ChangeMark";
import { ShapeIcon } from "./ShapeIcon";

export const css = (c: RGB) => `rgb(${Math.round(c[0] * 255)} ${Math.round(c[1] * 255)} ${Math.round(c[2] * 255)})`;

// Open on a first visit (on a wide screen), collapsed after that unless the user opened
// it: it covers part of the map.
const KEY = "gestalt.legend";

function stored(): string | null {
  try { return window.localStorage.getItem(KEY); } catch { return null; }
}

function remember(value: string): void {
  try { window.localStorage.setItem(KEY, value); } catch { /* private mode: not remembered */ }
}

function initiallyOpen(): boolean {
  const seen = stored();
  if (seen === null) remember("seen");
  return seen === "open" || (seen === null && window.innerWidth > 700);
}

export function Legend() {
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const [open, setOpen] = useState(initiallyOpen);
  const colourBy = useColouring((s) => s.colourBy);
  const comparing = useTime((s) => s.diff !== null);
  const toggle = () => {
    setOpen(!open);
    remember(!open ? "open" : "closed");
  };
  const present = new Set<string>();
  for (const e of graph.entities.values()) present.add(e.kind);
  const edgeKinds = new Set<string>();
  for (const e of graph.edges.values()) edgeKinds.add(e.kind);
  if (edgeKinds.has("imports")) edgeKinds.add("import_cycle");
  const kinds = Object.entries(KIND_STYLES).filter(([k]) => present.has(k));
  return (
    <aside className={open ? "legend open" : "legend"} aria-label="Legend" data-testid="legend" data-obstacle>
      <button type="button" className="legend-toggle" aria-expanded={open} onClick={toggle}>Legend {open ? "▾" : "▸"}</button>
      {open && (
        <div className="legend-body">
          <div className="legend-grid">
            {kinds.map(([kind, style]) => (
              <div key={kind} className="legend-item" data-kind={kind} title={`${style.label}: its own colour when healthy (${style.colour})`}>
                <ShapeIcon shape={style.shape} colour={css(kindTint(kind))} /> {style.label}
              </div>
            ))}
          </div>
          {colourBy === "drift" ? (
            <div className="legend-health" data-testid="legend-drift">
              {Object.entries(DRIFT_COLOURS).map(([state, c]) => (
                <span key={state} data-drift={state}><i style={{ background: css(c) }} /> {state.replace("_", " ")}</span>
              ))}
              <span data-drift="none"><i style={{ background: css(UNMANAGED) }} /> not in Git</span>
            </div>
          ) : colourBy === "cost" || colourBy === "waste" ? (
            <div className="legend-health" data-testid="legend-cost">
              <span title="Log scale up to the largest unit's figure; grey: not priced">
                <i style={{ background: `linear-gradient(90deg, ${css(costColour(0, 1))}, ${css(costColour(1, 1))})`, width: 48 }} />
                {colourBy === "cost" ? "cost per hour" : "waste per hour"}: low → high
              </span>
              <span><i style={{ background: css(costColour(undefined, 1)) }} /> not priced</span>
            </div>
          ) : (
          <div className="legend-health">
            <span data-health="ok" title="Healthy entities are drawn in their kind's colour (above)"><i className="kind-colours" /> healthy: kind colour</span>
            {([["warning", COLOURS.amber], ["critical", COLOURS.red], ["unknown/stale", COLOURS.grey]] as [string, RGB][]).map(([label, c]) => (
              <span key={label} data-health={label}><i style={{ background: css(c) }} /> {label}{label === "unknown/stale" ? "" : " (ringed)"}</span>
            ))}
          </div>
          )}
          {comparing && (
            <div className="legend-health legend-compare" data-testid="legend-compare" title="Compare: the map shows the later moment">
              {CHANGES.map((change) => (
                <span key={change} data-change={change}><ChangeMark change={change} /> {CHANGE_LABELS[change]}</span>
              ))}
            </div>
          )}
          <div className="legend-edges">
            {EDGE_KINDS.filter((k) => edgeKinds.has(k)).map((k) => {
              const s = EDGE_STYLES[k];
              return (
                <span key={k}>
                  <svg width="26" height="8" aria-hidden="true"><line x1="1" y1="4" x2="25" y2="4" stroke={css(s.colour)} strokeWidth="2" strokeDasharray={s.dashed ? "4 3" : undefined} /></svg>
                  {s.label}{s.particles ? " ⋯" : s.pulse ? " ∿" : ""}
                </span>
              );
            })}
          </div>
        </div>
      )}
    </aside>
  );
}
