// The headline of the map's health: the worst state first ("18 critical"), then the other
// counts and the share of checked entities that pass; by kind on demand, with headers.
import { useEffect, useRef, useState } from "react";
import { useGraph } from "../state/graphContext";
import { kindStyle } from "../scene/mapping";
import { countHealth, headline, healthyPercent } from "../state/health";
import { money, useInsight } from "../state/insight";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { SitesSummary } from "./Sites";
import { stamp } from "./Timeline";

const WORDS = { critical: "critical", warning: "warning", ok: "all healthy", unknown: "not checked" };

export function HealthSummary() {
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const [open, setOpen] = useState(false);
  const host = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (ev: PointerEvent) => { if (!host.current?.contains(ev.target as Node)) setOpen(false); };
    const esc = (ev: KeyboardEvent) => { if (ev.key === "Escape") setOpen(false); };
    window.addEventListener("pointerdown", away);
    window.addEventListener("keydown", esc);
    return () => { window.removeEventListener("pointerdown", away); window.removeEventListener("keydown", esc); };
  }, [open]);
  // Counted here from the live entities: the snapshot's summary is not sent with deltas.
  // A comparison's ghosts are on the map, not in the moment it shows: never counted.
  const ghosts = useTime((s) => s.ghosts);
  const { all, byKind } = countHealth(graph.entities.values(), ghosts?.entities);
  const top = headline(all);
  const percent = healthyPercent(all);
  const totals = useInsight((s) => s.totals);
  const currency = useInsight((s) => s.currency);
  const unusual = useInsight((s) => s.unusual.size);
  const costPast = useInsight((s) => s.costPast);
  const others = (["critical", "warning", "ok"] as const).filter((s) => s !== top.state && all[s] > 0);
  return (
    <section className={`health state-${top.state}`} aria-label="Health summary" data-testid="health" data-state={top.state} data-obstacle ref={host}>
      <button type="button" className="health-main" aria-expanded={open} onClick={() => setOpen(!open)}
        title="Entities by health state, from the health checks; click for each kind">
        <span className="headline" data-testid="health-headline">
          <b>{top.state === "ok" ? "" : top.count}</b> {WORDS[top.state]}
        </span>
        <span className="counts">
          {others.map((s) => <span key={s} className={`c-${s}`}>{all[s]} {s === "ok" ? "healthy" : s}</span>)}
          {all.unknown > 0 && <span className="c-unknown">{all.unknown} unknown</span>}
        </span>
        <span className="muted small">
          {percent != null ? `${percent}% healthy · ` : ""}{all.total} entities {open ? "▾" : "▸"}
        </span>
        {(totals?.total_per_hour || unusual > 0 || costPast) && (
          <span className="muted small" data-testid="insight-line" data-cost={costPast ? (costPast.recordedAt === null ? "none" : "past") : "live"}
            title={costPast?.recordedAt != null ? `What it cost then, as recorded at ${stamp(costPast.recordedAt)}`
              : costPast ? "No cost was recorded at this moment (cost off, or a gap in history)"
              : "What running costs (cost section's prices; idle node capacity included) and the series unusual now"}>
            {costPast && costPast.recordedAt === null ? "cost not recorded then"
              : totals?.total_per_hour ? `${money(totals.total_per_hour, currency)}${costPast ? " then" : ""}` : ""}
            {(totals?.total_per_hour || costPast) && unusual ? " · " : ""}{unusual ? `${unusual} unusual` : ""}
          </span>
        )}
      </button>
      <SitesSummary />
      {open && (
        <table className="by-kind" data-testid="health-by-kind">
          <thead>
            <tr><th scope="col">Kind</th><th scope="col" className="num">All</th><th scope="col" className="num c-critical">Critical</th>
              <th scope="col" className="num c-warning">Warning</th><th scope="col" className="num c-ok">Healthy</th></tr>
          </thead>
          <tbody>
            {[...byKind].sort((a, b) => b[1].critical - a[1].critical || b[1].warning - a[1].warning || b[1].total - a[1].total)
              .map(([kind, k]) => (
                <tr key={kind}>
                  <th scope="row">{kindStyle(kind).label}</th><td className="num">{k.total}</td>
                  <td className="num c-critical">{k.critical || ""}</td><td className="num c-warning">{k.warning || ""}</td>
                  <td className="num c-ok">{k.ok}</td>
                </tr>
              ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
