// Plain GETs against the API. A `?token=` on the page's URL is passed on (server.token).
import type { CostTotals, TopSpender, UnitCost } from "../state/insight";
import type { Timeline, TopologyDiff } from "../state/time";
import { fetchHere, fetchOffThread } from "./offThread";
import type { Alert, Anomaly, EntityDetails, InfraEvent, MetricSeries, SeriesBand, SourceStatus, Topology, TopologyChange, VisualizationConfig } from "./types";

function token(): string | null {
  return new URLSearchParams(window.location.search).get("token");
}

export function apiUrl(path: string, params: Record<string, string> = {}): string {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  const t = token();
  if (t) url.searchParams.set("token", t);
  return url.pathname + url.search;
}

async function getJson<T>(path: string, params?: Record<string, string>, { offThread = false } = {}): Promise<T> {
  const url = apiUrl(path, params);
  const { ok, status, body } = await (offThread ? fetchOffThread(url) : fetchHere(url));
  if (!ok) {
    // The server says why in one line ({"error"} or {"detail"}): show that, not a status.
    const why = body as { error?: string; detail?: string } | null;
    throw new Error(why?.error ?? why?.detail ?? `${path}: HTTP ${status}`);
  }
  return body as T;
}

/** Answers kept in the page instead of asked of the server: a snapshot file being shown
 * (live/snapshotFile.ts) answers for its entities and their metric samples. */
export const localAnswers: {
  entity?: (id: string) => EntityDetails | null;
  metrics?: (id: string) => MetricSeries | null;
} = {};

function local<T>(answer: T | null | undefined, id: string): Promise<T> | null {
  if (answer === undefined) return null;
  return answer === null ? Promise.reject(new Error(`${id} is not in the snapshot`)) : Promise.resolve(answer);
}

/** `{at}` for a past moment (epoch seconds), nothing while live. */
const atParam = (at?: number | null): Record<string, string> => (at == null ? {} : { at: String(at) });

export const api = {
  topology: (at?: number | null) => getJson<Topology>("/api/infra/topology", atParam(at)),
  /** The topology at `at` as the change from the one at `since` (both past moments). */
  topologySince: (at: number, since: number) =>
    getJson<TopologyChange>("/api/infra/topology", { at: String(at), since: String(since) }, { offThread: true }),
  entity: (id: string, at?: number | null) => local(localAnswers.entity?.(id), id) ??
    getJson<EntityDetails>(`/api/infra/entities/${encodeURIComponent(id)}`, atParam(at)),
  metrics: (id: string, since: number, until?: number | null) => local(localAnswers.metrics?.(id), id) ??
    getJson<MetricSeries>(`/api/infra/metrics/${encodeURIComponent(id)}`,
      until == null ? { since: String(since) } : { since: String(since), until: String(until) }),
  alerts: (at?: number | null) => getJson<{ alerts: Alert[] }>("/api/infra/alerts", atParam(at)),
  events: (limit = 100, until?: number | null) => getJson<{ events: InfraEvent[] }>("/api/infra/events",
    until == null ? { limit: String(limit) } : { limit: String(limit), until: String(until) }),
  /** Events from `since` (epoch seconds, inclusive) on, newest first. */
  eventsSince: (since: number, limit: number) => getJson<{ events: InfraEvent[] }>("/api/infra/events",
    { since: String(since), limit: String(limit) }),
  timeline: () => getJson<Timeline>("/api/infra/timeline"),
  diff: (from: number, to: number) =>
    getJson<TopologyDiff>("/api/infra/topology/diff", { from: String(from), to: String(to) }),
  anomalies: () => getJson<{ anomalies: Anomaly[] }>("/api/infra/anomalies"),
  anomalySeries: (id: string) =>
    getJson<{ series: SeriesBand[] }>(`/api/infra/anomalies/series/${encodeURIComponent(id)}`),
  /** Live, or with `at` as recorded then (`recorded_at` null and no totals: nothing was). */
  cost: (at?: number | null) => getJson<{ currency: string; totals: CostTotals | null; entities: Record<string, UnitCost>; top: TopSpender[];
    recorded_at?: number | null }>("/api/infra/cost", atParam(at)),
  health: () => getJson<{ sources: SourceStatus[] }>("/api/infra/health"),
  config: () => getJson<{ visualization: VisualizationConfig; checks?: Record<string, string>; version: string; site?: string;
    snapshot?: { file: string; at: number } | null }>("/api/infra/config"),
};
