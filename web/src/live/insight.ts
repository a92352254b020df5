// Polls what is unusual and what things cost into state/insight.ts (every 5 s, while live:
// the past's map carries its own health: no "unusual now" there). In the past the cost is
// the one recorded then (asked once the moment rests), never the live one.
import { api } from "../api/http";
import { useInsight } from "../state/insight";
import { useTime } from "../state/time";

const EVERY_MS = 5000;
// As the alerts and events (live/travel.ts PANELS_REST_MS): a drag's steps on a busy page
// come more than 150 ms apart, and a cost asked at each competed with the map's requests.
const PAST_SETTLE_MS = 400;

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
      if (useTime.getState().at !== null) return; // gone to the past meanwhile
      useInsight.setState({ costs: entities, currency, totals, top, costPast: null, revision: useInsight.getState().revision + 1 });
    }).catch(() => undefined);
  };
  let pastTimer: ReturnType<typeof setTimeout> | null = null;
  const loadPast = (at: number) => {
    api.cost(at).then(({ entities, currency, totals, top, recorded_at }) => {
      if (useTime.getState().at !== at) return; // moved on meanwhile
      useInsight.setState({ costs: entities, currency, totals, top, costPast: { recordedAt: recorded_at ?? null },
        revision: useInsight.getState().revision + 1 });
    }).catch(() => undefined);
  };
  useTime.subscribe((state, previous) => {
    if (state.at === previous.at) return;
    if (pastTimer) clearTimeout(pastTimer);
    const at = state.at;
    if (at === null) { load(); return; }
    // Until the moment's own answer comes, the live figure must not pass for the past's.
    // Nor what is unusual now for what was unusual then (the past's map carries its own
    // anomaly checks in its health): the count and the "unusual now" filter are live only.
    if (previous.at === null) useInsight.setState({ totals: null, top: [], costs: {}, costPast: { recordedAt: null },
      unusual: new Set(), unusualOnly: false, revision: useInsight.getState().revision + 1 });
    pastTimer = setTimeout(() => loadPast(at), PAST_SETTLE_MS);
  });
  load();
  setInterval(load, EVERY_MS);
}
