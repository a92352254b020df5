// Polls what is unusual and what things cost into state/insight.ts (every 5 s, while live:
// the past's map carries its own health).
import { api } from "../api/http";
import { useInsight } from "../state/insight";
import { useTime } from "../state/time";

const EVERY_MS = 5000;

export function startInsight(): void {
  const load = () => {
    if (useTime.getState().at !== null) return;
    api.anomalies().then(({ anomalies }) => {
      const unusual = new Set(anomalies.filter((a) => !a.muted).map((a) => a.entity_id));
      const before = useInsight.getState().unusual;
      if (unusual.size === before.size && [...unusual].every((id) => before.has(id))) return;
      useInsight.setState({ unusual, revision: useInsight.getState().revision + 1 });
    }).catch(() => undefined);
    api.cost().then(({ entities, currency, totals, top }) => {
      useInsight.setState({ costs: entities, currency, totals, top, revision: useInsight.getState().revision + 1 });
    }).catch(() => undefined);
  };
  load();
  setInterval(load, EVERY_MS);
}
