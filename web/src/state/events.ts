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

/** The feed once the map was taken afresh (a `snapshot` after a server restart, or a
 * `resync` after this page fell behind). The same change log is the same world: what the
 * feed held is its history, kept whole (rows of entities gone since are greyed), and what
 * it missed is merged in as it comes. Another log is another world (another server on this
 * address): only events of entities on its map stay. */
export function afterSnapshot(events: InfraEvent[], sameLog: boolean, onMap: (id: string) => boolean): InfraEvent[] {
  if (sameLog) return events;
  const kept = events.filter((e) => onMap(e.entity_id));
  return kept.length === events.length ? events : kept;
}

/** Where to ask /api/infra/events for what a dropped stream missed: from the newest event
 * held on (inclusive, so that one of the same instant is not lost; the merge drops the
 * repeat by id). Null with nothing held: the stream's own first 50 are then the start. */
export function missedSince(events: InfraEvent[]): number | null {
  return events.length ? events[0].timestamp : null;
}
