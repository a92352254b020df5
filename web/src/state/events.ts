// The event feed as a value: newest first, without duplicates, bounded. The stream
// (live/eventStream.ts) feeds it; the UI store keeps it.
import type { InfraEvent } from "../api/types";

export const MAX_EVENTS = 200;

/** Newest first, without duplicates, at most MAX_EVENTS. */
export function mergeEvents(current: InfraEvent[], incoming: InfraEvent[]): InfraEvent[] {
  const seen = new Set(current.map((e) => e.id));
  const fresh = incoming.filter((e) => !seen.has(e.id));
  if (!fresh.length) return current;
  const merged = [...fresh, ...current];
  merged.sort((a, b) => b.timestamp - a.timestamp);
  return merged.slice(0, MAX_EVENTS);
}
