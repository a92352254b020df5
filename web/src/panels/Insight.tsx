// Show only what is unusual now; the top spenders with the cost totals while the map is
// coloured by cost or waste (state/insight.ts, polled by live/insight.ts; the colour modes
// are ColourSwitch's).
import { useColouring } from "../state/colouring";
import { useInsight, money } from "../state/insight";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { stamp } from "./Timeline";

/** The top bar's "unusual now" toggle. */
export function InsightControls() {
  const unusualOnly = useInsight((s) => s.unusualOnly);
  const setUnusualOnly = useInsight((s) => s.setUnusualOnly);
  const unusual = useInsight((s) => s.unusual.size);
  const requestFit = useUi((s) => s.requestFit);
  const past = useTime((s) => s.at !== null);
  return (
    <button type="button" className={unusualOnly ? "filter-btn on" : "filter-btn"} aria-pressed={unusualOnly}
        data-testid="unusual-only" disabled={past}
        title={past ? "What is unusual now is live only: the past's map shows its anomalies in its health"
          : "Show only entities with an anomaly now (not marked expected)"}
        onClick={() => { setUnusualOnly(!unusualOnly); requestFit(); }}>
        Unusual now{unusual ? ` · ${unusual}` : ""}
      </button>
  );
}

/** Top spenders and totals, while the map is coloured by cost or waste. */
export function TopSpenders() {
  const colourBy = useColouring((s) => s.colourBy);
  const top = useInsight((s) => s.top);
  const totals = useInsight((s) => s.totals);
  const currency = useInsight((s) => s.currency);
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  const costPast = useInsight((s) => s.costPast);
  if (colourBy !== "cost" && colourBy !== "waste") return null;
  // The list is ranked by what the map is coloured by: its title says which.
  const title = colourBy === "waste" ? "Most waste (idle cost)" : "Top spenders";
  if (!totals) {
    return costPast ? (
      <section className="metrics-overlay top-spenders" aria-label={title} data-testid="top-spenders" data-obstacle>
        <div className="metrics-title" data-testid="top-spenders-title">{title}</div>
        <p className="muted small">No cost was recorded at this moment.</p>
      </section>
    ) : null;
  }
  const rows = [...top].sort((a, b) => colourBy === "waste" ? b.waste_per_hour - a.waste_per_hour : b.cost_per_hour - a.cost_per_hour);
  return (
    <section className="metrics-overlay top-spenders" aria-label={title} data-testid="top-spenders" data-obstacle>
      <div className="metrics-title" data-testid="top-spenders-title">{title}</div>
      {costPast?.recordedAt != null && <div className="muted small">as recorded at {stamp(costPast.recordedAt)}</div>}
      <div className="metric-head"><span>Total</span><b data-testid="cost-total">{money(totals.total_per_hour, currency)}</b></div>
      <div className="metric-head"><span>Idle · waste</span><b>{money(totals.idle_per_hour, currency)} · {money(totals.waste_per_hour, currency)}</b></div>
      <ol>
        {rows.map((r) => (
          <li key={r.id}>
            <button type="button" className="link" data-spender={r.id} onClick={() => { select(r.id); fly(r.id); }}>
              {r.name}
            </button>{" "}
            <b>{money(colourBy === "waste" ? r.waste_per_hour : r.cost_per_hour, currency)}</b>
          </li>
        ))}
      </ol>
    </section>
  );
}
