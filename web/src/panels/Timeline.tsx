// The timeline along the bottom: the retained range with its gaps (Gestalt down, history
// paused), event density, alert spans and the position; drag to scrub (the map follows),
// play at 1x/10x/60x, step between recorded changes, back to live; compare two moments;
// download a snapshot or export the view.
import { memo, useEffect, useState } from "react";
import { apiUrl } from "../api/http";
import { type Travel, travel } from "../live/travel";
import { downloadMapPng } from "../scene/capture";
import { SPEEDS, type Speed, isoTime, useTime } from "../state/time";
import { CompareList } from "./Compare";
import { scrubMove } from "./scrubKeys";

// The server's formats, and the map as a picture (drawn in the page: scene/capture.ts).
const EXPORTS = ["json", "graphml", "dot", "mermaid", "png"] as const;

function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now() / 1000);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now() / 1000), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

// One formatter for every stamp: toLocaleString builds one per call (a third of the time
// the timeline took to render while dragging).
const STAMP = new Intl.DateTimeFormat("en-GB", { hour12: false, dateStyle: "short", timeStyle: "medium" });
export const stamp = (seconds: number) => STAMP.format(new Date(seconds * 1000));

// The track is redrawn when the timeline or its range changes (once a second), not on
// every position of a drag: the cursor is its own line over it.
const Track = memo(function Track({ start, end }: { start: number; end: number }) {
  const timeline = useTime((s) => s.timeline);
  const span = Math.max(end - start, 1e-3);
  const x = (t: number) => `${(100 * (Math.min(Math.max(t, start), end) - start)) / span}%`;
  const w = (a: number, b: number) => `${(100 * Math.max(0, Math.min(b, end) - Math.max(a, start))) / span}%`;
  const runs = timeline?.runs ?? [];
  const most = Math.max(1, ...(timeline?.events ?? []).map((b) => b.count));
  return (
    <svg className="timeline-track" aria-hidden="true" preserveAspectRatio="none">
      {runs.slice(1).map((run, i) => {
        const stopped = runs[i].to ?? run.from;
        return <rect key={`gap-${run.from}`} className="tl-gap" x={x(stopped)} width={w(stopped, run.from)} y="0" height="100%"><title>not recorded</title></rect>;
      })}
      {(timeline?.events ?? []).map((b) => (
        <rect key={`ev-${b.at}`} className={b.errors ? "tl-events tl-errors" : "tl-events"} x={x(b.at)}
          width={w(b.at, b.at + (timeline?.bucket_seconds ?? 1))} y={`${100 - (60 * b.count) / most}%`} height={`${(60 * b.count) / most}%`} />
      ))}
      {(timeline?.alerts ?? []).map((a) => (
        <rect key={`al-${a.id}-${a.from}`} className={`tl-alert tl-${a.severity ?? "warning"}`} x={x(a.from)}
          width={w(a.from, a.to ?? end)} y="0" height="5"><title>{a.message}</title></rect>
      ))}
    </svg>
  );
});

// The parts that follow the position are their own components: a drag moves it up to 30
// times a second, and the controls, the track and the actions need not render each time.
function Cursor({ start, end }: { start: number; end: number }) {
  const at = useTime((s) => s.at);
  const x = `${(100 * (Math.min(Math.max(at ?? end, start), end) - start)) / Math.max(end - start, 1e-3)}%`;
  return (
    <svg className="timeline-track" aria-hidden="true" preserveAspectRatio="none">
      <line className="tl-cursor" x1={x} x2={x} y1="0" y2="100%" />
    </svg>
  );
}

function Scrubber({ start, end, t }: { start: number; end: number; t: Travel }) {
  const position = useTime((s) => s.at) ?? end;
  return (
    <input type="range" data-testid="tl-scrub" aria-label="Moment" min={start} max={end} step={0.1}
      value={Math.min(Math.max(position, start), end)}
      onChange={(e) => t.goTo(Number(e.target.value))}
      onKeyDown={(e) => {
        const move = scrubMove(e.key, Math.min(Math.max(position, start), end), start, end);
        if (!move) return;
        e.preventDefault();
        if ("step" in move) t.step(move.step);
        else if ("to" in move) t.goTo(move.to);
        else t.backToLive();
      }} />
  );
}

function Position() {
  const at = useTime((s) => s.at);
  return <span data-testid="tl-position">{at === null ? "live" : stamp(at)}</span>;
}

function SnapshotLink({ now }: { now: number }) {
  const at = useTime((s) => s.at);
  return <a className="tl-link" data-testid="tl-snapshot" href={apiUrl("/api/infra/snapshot", { at: String(at ?? now) })} download>Snapshot</a>;
}

function MomentIso() {
  const at = useTime((s) => s.at);
  return <span hidden data-testid="tl-iso">{at === null ? "" : isoTime(at)}</span>;
}

export function Timeline() {
  const live = useTime((s) => s.at === null);
  const playing = useTime((s) => s.playing);
  const speed = useTime((s) => s.speed);
  const oldest = useTime((s) => s.timeline?.oldest);
  const compareFrom = useTime((s) => s.compareFrom);
  const error = useTime((s) => s.error);
  const now = useNow(1000);
  const start = oldest ?? now - 60;
  if (!travel) return null;
  const t = travel;
  return (
    <footer className="timeline" data-testid="timeline" data-live={live}>
      <div className="tl-controls">
        <button type="button" className="tl-icon" data-testid="tl-prev" title="Previous change" aria-label="Previous change"
          onClick={() => t.step(-1)}><Icon d="M3 2v12M13 2 5 8l8 6z" /></button>
        <button type="button" className="tl-icon" data-testid="tl-play" aria-pressed={playing} aria-label={playing ? "Pause" : "Play"}
          title={playing ? "Pause" : "Play"} onClick={() => (playing ? t.pause() : t.play())}>
          <Icon d={playing ? "M4 2h3v12H4zM9 2h3v12H9z" : "M4 2l10 6-10 6z"} /></button>
        <button type="button" className="tl-icon" data-testid="tl-next" title="Next change" aria-label="Next change"
          onClick={() => t.step(1)}><Icon d="M13 2v12M3 2l8 6-8 6z" /></button>
        <select data-testid="tl-speed" value={speed} aria-label="Speed"
          onChange={(e) => t.setSpeed(Number(e.target.value) as Speed)}>
          {SPEEDS.map((s) => <option key={s} value={s}>{s}×</option>)}
        </select>
        <button type="button" className={live ? "tl-live on" : "tl-live"} data-testid="tl-live"
          disabled={live} onClick={() => t.backToLive()}>Live</button>
      </div>
      <div className="tl-range">
        <Track start={start} end={now} />
        <Cursor start={start} end={now} />
        <Scrubber start={start} end={now} t={t} />
        <div className="tl-labels">
          <span>{stamp(start)}</span>
          <Position />
          <Usage />
        </div>
      </div>
      <div className="tl-actions">
        {compareFrom === null
          ? <button type="button" data-testid="tl-mark" onClick={() => t.markCompare()} title="Pick this moment to compare with another">Compare…</button>
          : <button type="button" data-testid="tl-compare" onClick={() => t.compare()}>Changes since {stamp(compareFrom)}</button>}
        <SnapshotLink now={now} />
        <select data-testid="tl-export" aria-label="Export" value="" onChange={(e) => {
          const { at } = useTime.getState();
          if (e.target.value === "png") {
            downloadMapPng(at).catch((error: Error) => useTime.setState({ error: error.message }));
          } else if (e.target.value) window.location.assign(apiUrl("/api/infra/export", at === null ? { format: e.target.value } : { format: e.target.value, at: String(at) }));
        }}>
          <option value="">Export…</option>
          {EXPORTS.map((f) => <option key={f} value={f}>{f}</option>)}
        </select>
      </div>
      {error && <div className="tl-error" role="alert" data-testid="tl-error">{error}</div>}
      <CompareList />
      <MomentIso />
    </footer>
  );
}

/** History's size on disk and whether it records (a full disk pauses it). */
function Usage() {
  const usage = useTime((s) => s.timeline?.usage);
  if (!usage) return <span>now</span>;
  const mb = (usage.bytes / 1e6).toFixed(1);
  const limit = usage.limit_bytes ? ` of ${(usage.limit_bytes / 1e6).toFixed(0)} MB` : "";
  return usage.paused
    ? <span className="c-critical" data-testid="tl-paused" title={usage.paused}>history paused · now</span>
    : <span title={`history: ${mb} MB${limit} on disk`}>history {mb} MB · now</span>;
}

/** A control's glyph, drawn (the symbol fonts of a server may lack ⏮ and ⏭). */
function Icon({ d }: { d: string }) {
  return <svg width="14" height="14" viewBox="0 0 16 16" aria-hidden="true"><path d={d} fill="currentColor" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" /></svg>;
}

/** While not live, the whole UI says so, with the moment shown. */
export function TimeBanner() {
  const at = useTime((s) => s.at);
  const shown = useTime((s) => s.shown);
  if (at === null || !travel) return null;
  const t = travel;
  return (
    <div className="time-banner" role="status" data-testid="time-banner" data-obstacle>
      <span><b>Not live</b> — the map as it was at <time dateTime={isoTime(at)}>{stamp(at)}</time>
        {shown?.gap ? <span className="muted"> · {shown.gap}</span> : null}</span>
      <button type="button" className="chip" onClick={() => t.backToLive()}>Back to live</button>
    </div>
  );
}

/** A `?t=` in the opened link that could not be read: said, not silently dropped. */
export function UrlNotice() {
  const notice = useTime((s) => s.urlNotice);
  if (!notice) return null;
  return (
    <div className="url-notice" role="alert" data-testid="url-notice" data-obstacle>
      <span>{notice}</span>
      <button type="button" className="chip" aria-label="Dismiss" data-testid="url-notice-dismiss"
        onClick={() => useTime.setState({ urlNotice: null })}>Dismiss</button>
    </div>
  );
}
