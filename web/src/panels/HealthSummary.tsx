// Overall score and healthy / warning / critical counts, by kind.
import { useState } from "react";
import { graph } from "../app";
import { kindStyle, scoreColour } from "../scene/mapping";
import { useUi } from "../state/ui";
import { css } from "./Legend";

export function HealthSummary() {
  useUi((s) => s.graphRevision);
  const [open, setOpen] = useState(false);
  // Counted here from the live entities: the snapshot's summary is not sent with deltas.
  const byKind = new Map<string, { n: number; ok: number; warning: number; critical: number }>();
  let ok = 0, warning = 0, critical = 0, sum = 0, scored = 0;
  for (const e of graph.entities.values()) {
    const k = byKind.get(e.kind) ?? { n: 0, ok: 0, warning: 0, critical: 0 };
    k.n++;
    const status = e.stale ? "unknown" : e.health_status ?? "unknown";
    if (status === "ok") { ok++; k.ok++; }
    if (status === "warning") { warning++; k.warning++; }
    if (status === "critical") { critical++; k.critical++; }
    byKind.set(e.kind, k);
    if (e.health != null) { sum += e.health; scored++; }
  }
  const overall = scored ? sum / scored : null;
  return (
    <section className="health" aria-label="Health summary" data-testid="health" data-obstacle>
      <button type="button" className="health-main" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span className="score" style={{ color: css(scoreColour(overall)) }}>{overall == null ? "–" : Math.round(overall * 100)}</span>
        <span className="counts">
          <span className="c-ok">{ok} healthy</span>
          <span className="c-warn">{warning} warning</span>
          <span className="c-crit">{critical} critical</span>
        </span>
        <span className="muted small">{graph.entities.size} entities {open ? "▾" : "▸"}</span>
      </button>
      {open && (
        <table className="by-kind">
          <tbody>
            {[...byKind].sort((a, b) => b[1].n - a[1].n).map(([kind, k]) => (
              <tr key={kind}>
                <td>{kindStyle(kind).label}</td><td className="num">{k.n}</td>
                <td className="num c-ok">{k.ok}</td><td className="num c-warn">{k.warning}</td><td className="num c-crit">{k.critical}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
