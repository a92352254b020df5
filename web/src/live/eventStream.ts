// The one SSE client for events. EventSource's own reconnect resumes with Last-Event-ID
// (the server replays what came after it, from its ring of recent events, also across a
// restart on the same data dir). Where EventSource gives up for good (an answer that is not
// a stream, such as a proxy's 502 while the server is down) this opens it again with
// `?last_event_id=` of the last frame. Each time a dropped stream is open again, `onResume`
// may ask for what the ring no longer holds. Repeats are dropped by id in the feed.
import type { InfraEvent } from "../api/types";
import type { EventSourceLike } from "./topologyStream";

/** EventSource.CLOSED: the browser will not reconnect by itself. */
const CLOSED = 2;

export interface EventStreamOptions {
  open?: (url: string) => EventSourceLike;
  /** The stream is open again after a drop. */
  onResume?: () => void;
  /** Delay before opening again a stream EventSource gave up on, ms (the server's `retry`). */
  retryMs?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export function openEventStream(
  url: string,
  onEvents: (events: InfraEvent[]) => void,
  options: EventStreamOptions = {},
): () => void {
  const open = options.open ?? ((u) => new EventSource(u));
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  let source: EventSourceLike | null = null;
  let lastId: string | null = null;
  let opened = false;
  let dropped = false;
  let stopped = false;
  // Batch a burst (the 50 replayed on connect) into one update.
  let pending: InfraEvent[] = [];
  let scheduled = false;

  const connect = () => {
    if (stopped) return;
    const sep = url.includes("?") ? "&" : "?";
    const s = open(lastId === null ? url : `${url}${sep}last_event_id=${encodeURIComponent(lastId)}`);
    source = s;
    s.onopen = () => {
      if (source !== s) return;
      if (opened && dropped) options.onResume?.();
      opened = true;
      dropped = false;
    };
    s.onerror = () => {
      if (source !== s) return;
      dropped = true;
      if (s.readyState !== CLOSED) return; // reconnecting by itself
      s.close();
      source = null;
      setTimer(connect, options.retryMs ?? 2000);
    };
    s.addEventListener("event", (ev) => {
      if (source !== s) return;
      if (ev.lastEventId) lastId = ev.lastEventId;
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
  };
  connect();
  return () => {
    stopped = true;
    source?.close();
    source = null;
  };
}
