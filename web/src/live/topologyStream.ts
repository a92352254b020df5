// The one SSE client for the topology: snapshot, deltas, metrics, sources and resync frames
// into the GraphStore; on a drop or a version gap it reconnects itself with
// `?last_event_id=<log id>:<applied version>` so the server replays exactly what is missing.
// The log id (from the frames' SSE ids) names the server's change log: another server on
// the same address (another world) answers a resume from another log with a snapshot.
import type { Delta, MetricsFrame, SourceStatus, Topology } from "../api/types";
import { GraphStore, nowMs } from "../state/graph";
import type { StreamStatus } from "../state/ui";

/** The part of EventSource used here (a fake one in unit tests). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface StreamOptions {
  url: string;
  open?: (url: string) => EventSourceLike;
  onStatus?: (status: StreamStatus) => void;
  /** Delays between reconnects, ms (the last one repeats). */
  backoff?: number[];
  setTimer?: (fn: () => void, ms: number) => unknown;
}

export class TopologyStream {
  status: StreamStatus = "connecting";
  /** How many times the stream was (re)opened, and how many gaps were seen: for tests. */
  connects = 0;
  gaps = 0;
  snapshots = 0;
  /** The change log our version counts in (the `<log id>` of `<log id>:<version>`). */
  logId: string | null = null;
  private source: EventSourceLike | null = null;
  private attempt = 0;
  private stopped = false;
  private readonly open: (url: string) => EventSourceLike;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;

  constructor(private readonly store: GraphStore, private readonly options: StreamOptions) {
    this.open = options.open ?? ((url) => new EventSource(url));
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    this.source = null;
  }

  /** Drop the connection and resume, as after a network failure. */
  forceReconnect(): void {
    this.reconnect(0);
  }

  /** The URL to (re)open: resume from what we applied, unless we have nothing yet. */
  resumeUrl(): string {
    if (this.connects === 0 || this.snapshots === 0) return this.options.url;
    const sep = this.options.url.includes("?") ? "&" : "?";
    const id = this.logId === null ? `${this.store.version}` : `${this.logId}:${this.store.version}`;
    return `${this.options.url}${sep}last_event_id=${encodeURIComponent(id)}`;
  }

  /** Note the log a frame's id names (`<log id>:<version>`; a bare number names none). */
  private noteLog(ev: MessageEvent): void {
    const id = ev.lastEventId ?? "";
    const colon = id.lastIndexOf(":");
    this.logId = colon > 0 ? id.slice(0, colon) : null;
  }

  private setStatus(status: StreamStatus): void {
    if (this.status === status) return;
    this.status = status;
    this.options.onStatus?.(status);
  }

  private connect(): void {
    if (this.stopped) return;
    const source = this.open(this.resumeUrl());
    this.connects += 1;
    this.source = source;
    source.onopen = () => {
      if (this.source !== source) return;
      this.attempt = 0;
      this.setStatus("live");
    };
    source.onerror = () => {
      if (this.source === source) this.reconnect();
    };
    const full = (ev: MessageEvent) => {
      if (this.source !== source) return;
      this.store.applySnapshot(JSON.parse(ev.data) as Topology);
      this.noteLog(ev);
      this.snapshots += 1;
      this.setStatus("live");
    };
    source.addEventListener("snapshot", full);
    source.addEventListener("resync", full);
    source.addEventListener("delta", (ev) => {
      if (this.source !== source) return;
      const received = nowMs();
      const result = this.store.applyDelta(JSON.parse(ev.data) as Delta, received);
      if (result === "gap") {
        this.gaps += 1;
        this.reconnect(0);
      }
    });
    source.addEventListener("metrics", (ev) => {
      if (this.source === source) this.store.applyMetrics(JSON.parse(ev.data) as MetricsFrame);
    });
    source.addEventListener("sources", (ev) => {
      if (this.source === source) this.store.setSources(JSON.parse(ev.data) as SourceStatus[]);
    });
  }

  /** Drop this connection and open a new one that resumes from the applied version. */
  private reconnect(delay?: number): void {
    this.source?.close();
    this.source = null;
    if (this.stopped) return;
    this.setStatus("reconnecting");
    const backoff = this.options.backoff ?? [250, 500, 1000, 2000, 4000];
    const wait = delay ?? backoff[Math.min(this.attempt, backoff.length - 1)];
    this.attempt += 1;
    this.setTimer(() => this.connect(), wait);
  }
}
