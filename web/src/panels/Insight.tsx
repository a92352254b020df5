// Colour the map by health, cost or waste; show only what is unusual now; the top
// spenders with the cost totals (state/insight.ts, polled by live/insight.ts).
import { useInsight, type ColourBy, money } from "../state/insight";
import { useUi } from "../state/ui";

const MODES: { id: ColourBy; label: string; title: string }[] = [
  { id: "health", label: "Health", title: "Colour by health" },
  { id: "cost", label: "Cost", title: "Colour by cost per hour: max(request, usage) × price" },
  { id: "waste", label: "Waste", title: "Colour by waste: requested but unused, priced" },
];

/** The top bar's colour modes and the "unusual now" toggle. */
export function InsightControls() {
  const colourBy = useInsight((s) => s.colourBy);
  const setColourBy = useInsight((s) => s.setColourBy);
  const unusualOnly = useInsight((s) => s.unusualOnly);
  const setUnusualOnly = useInsight((s) => s.setUnusualOnly);
  const unusual = useInsight((s) => s.unusual.size);
  const requestFit = useUi((s) => s.requestFit);
  return (
    <>
      <div className="presets" role="group" aria-label="Colour by" data-testid="colour-modes">
        {MODES.map((m) => (
          <button key={m.id} type="button" className={colourBy === m.id ? "on" : ""} aria-pressed={colourBy === m.id}
            data-colour={m.id} title={m.title} onClick={() => setColourBy(m.id)}>{m.label}</button>
        ))}
      </div>
      <button type="button" className={unusualOnly ? "filter-btn on" : "filter-btn"} aria-pressed={unusualOnly}
        data-testid="unusual-only" title="Show only entities with an anomaly now (not marked expected)"
        onClick={() => { setUnusualOnly(!unusualOnly); requestFit(); }}>
        Unusual now{unusual ? ` · ${unusual}` : ""}
      </button>
    </>
  );
}

/** Top spenders and totals, while the map is coloured by cost or waste. */
export function TopSpenders() {
  const colourBy = useInsight((s) => s.colourBy);
  const top = useInsight((s) => s.top);
  const totals = useInsight((s) => s.totals);
  const currency = useInsight((s) => s.currency);
  const select = useUi((s) => s.select);
  const fly = useUi((s) => s.fly);
  if (colourBy === "health" || !totals) return null;
  const rows = [...top].sort((a, b) => colourBy === "waste" ? b.waste_per_hour - a.waste_per_hour : b.cost_per_hour - a.cost_per_hour);
  return (
    <section className="metrics-overlay top-spenders" aria-label="Top spenders" data-testid="top-spenders" data-obstacle>
      <div className="metrics-title">Top spenders</div>
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
