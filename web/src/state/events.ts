// The event feed as a value: newest first, without duplicates, bounded. The stream
// (live/eventStream.ts) feeds it; the UI store keeps it.
import type { InfraEvent } from "../api/types";

export const MAX_EVENTS = 200;

/** Newest first, one row per event id, at most MAX_EVENTS. An event that recurs keeps its
 * id (a Kubernetes event whose count went up): its newer form replaces the row. */
export function mergeEvents(current: InfraEvent[], incoming: InfraEvent[]): InfraEvent[] {
  const byId = new Map(current.map((e) => [e.id, e]));
  let changed = false;
  for (const e of incoming) {
    const had = byId.get(e.id);
    if (had && !newer(e, had)) continue;
    byId.set(e.id, e);
    changed = true;
  }
  if (!changed) return current;
  const merged = [...byId.values()];
  merged.sort((a, b) => b.timestamp - a.timestamp);
  return merged.slice(0, MAX_EVENTS);
}

const newer = (e: InfraEvent, than: InfraEvent) =>
  (e.count ?? 1) > (than.count ?? 1) || ((e.count ?? 1) === (than.count ?? 1) && e.timestamp > than.timestamp);
