// The one SSE client for events. EventSource's own reconnect already resumes with
// Last-Event-ID; duplicates (the server's replay overlapping what we hold) are dropped by id.
import type { InfraEvent } from "../api/types";
import type { EventSourceLike } from "./topologyStream";

export function openEventStream(
  url: string,
  onEvents: (events: InfraEvent[]) => void,
  open: (url: string) => EventSourceLike = (u) => new EventSource(u),
): () => void {
  const source = open(url);
  // Batch a burst (the 50 replayed on connect) into one update.
  let pending: InfraEvent[] = [];
  let scheduled = false;
  source.addEventListener("event", (ev) => {
    pending.push(JSON.parse(ev.data) as InfraEvent);
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      const batch = pending;
      pending = [];
      onEvents(batch);
    });
  });
  return () => source.close();
}
