// Plain GETs against the API. A `?token=` on the page's URL is passed on (server.token).
import type { Alert, EntityDetails, InfraEvent, MetricSeries, Topology, VisualizationConfig } from "./types";

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

async function getJson<T>(path: string, params?: Record<string, string>): Promise<T> {
  const response = await fetch(apiUrl(path, params));
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

export const api = {
  topology: () => getJson<Topology>("/api/infra/topology"),
  entity: (id: string) => getJson<EntityDetails>(`/api/infra/entities/${encodeURIComponent(id)}`),
  metrics: (id: string, since: number) =>
    getJson<MetricSeries>(`/api/infra/metrics/${encodeURIComponent(id)}`, { since: String(since) }),
  alerts: () => getJson<{ alerts: Alert[] }>("/api/infra/alerts"),
  events: (limit = 100) => getJson<{ events: InfraEvent[] }>("/api/infra/events", { limit: String(limit) }),
  config: () => getJson<{ visualization: VisualizationConfig; checks?: Record<string, string>; version: string }>("/api/infra/config"),
};
