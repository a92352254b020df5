// Where the UI stands in time: `at` (epoch seconds) while looking at the past, null while
// live. The timeline, the banner and every panel read it; live/travel.ts moves it.
import { create } from "zustand";
import type { Connection, Entity } from "../api/types";
import type { Ghosts } from "./compare";

export interface TimelineRun { version: number; from: number; to: number | null; kind: string }
export interface TimelineAlert { id: string; from: number; to: number | null; severity?: string; message?: string; entity_id?: string }
export interface Timeline {
  since: number;
  until: number;
  now: number;
  oldest: number | null;
  runs: TimelineRun[];
  changes: { version: number; at: number }[];
  bucket_seconds: number;
  events: { at: number; count: number; errors: number }[];
  alerts: TimelineAlert[];
  usage: { bytes: number; limit_bytes: number | null; oldest: number | null; paused: string | null };
}

/** One side of /api/infra/topology/diff: what came and went, whole as it was (a removed
 * entity as last seen), and field by field what changed. */
export interface DiffSide<T> { added: T[]; removed: T[]; changed: Record<string, Record<string, [unknown, unknown]>> }
export interface TopologyDiff { from: number; to: number; entities: DiffSide<Entity>; connections: DiffSide<Connection> }

export const SPEEDS = [1, 10, 60] as const;
export type Speed = (typeof SPEEDS)[number];

export interface TimeState {
  at: number | null;
  /** The version and gap of what the map shows (from the server's answer). */
  shown: { version: number; gap: string | null } | null;
  playing: boolean;
  speed: Speed;
  timeline: Timeline | null;
  /** The first moment picked for a comparison, and the comparison once asked. */
  compareFrom: number | null;
  diff: TopologyDiff | null;
  /** The comparison's ghosts the map holds now (live/travel.ts put them in the graph): not
   * of the moment shown, so never counted with it. */
  ghosts: Ghosts | null;
  error: string | null;
  /** Why a `?t=` in the opened link was not followed (the page stays live); null once dismissed. */
  urlNotice: string | null;
}

export const useTime = create<TimeState>(() => ({
  at: null, shown: null, playing: false, speed: 1, timeline: null, compareFrom: null, diff: null, ghosts: null, error: null, urlNotice: null,
}));

/** What `?t=` in the page's URL asks for: a moment, a value that is not one (with why), or
 * nothing. It accepts what the server's `at=` accepts (engine/past.py `parse_moment`):
 * epoch seconds, or RFC 3339 with a time zone. */
export type UrlMoment = { at: number } | { bad: string; why: string } | null;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// RFC 3339 / ISO 8601 extended: date, time (minutes and seconds optional), zone.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$/;

export function parseMoment(input: string): { at: number } | { why: string } {
  const text = input.trim();
  if (NUMBER.test(text)) return { at: Number(text) };
  const m = RFC3339.exec(text);
  if (!m) return { why: "expected RFC 3339 (2026-11-30T02:30:00Z) or epoch seconds" };
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (!zone) return { why: "no time zone; add Z or an offset like +01:00" };
  let offsetMinutes = 0;
  if (zone !== "Z" && zone !== "z") {
    const digits = zone.slice(1).replace(":", "");
    offsetMinutes = (zone[0] === "-" ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
  }
  const fields = [Number(mo), Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)];
  const ms = Date.UTC(Number(y), fields[0] - 1, fields[1], fields[2], fields[3], fields[4]);
  const back = new Date(ms);
  // Date.UTC rolls 2026-02-30 over into March; the server refuses it, and so do we.
  if (back.getUTCMonth() !== fields[0] - 1 || back.getUTCDate() !== fields[1] || fields[2] > 23 || fields[3] > 59 || fields[4] > 59) {
    return { why: "not a valid date and time" };
  }
  return { at: ms / 1000 + Number(`0.${frac ?? 0}`) - offsetMinutes * 60 };
}

export function timeFromUrl(search: string): UrlMoment {
  const text = new URLSearchParams(search).get("t");
  if (text === null || text === "") return null;
  const parsed = parseMoment(text);
  return "at" in parsed ? parsed : { bad: text, why: parsed.why };
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

// The moment is part of the shareable URL (beside selection, filters and layout). While
// it moves (a drag moves it up to 30 times a second) it is written at most every
// URL_WRITE_MS, the latest always: each history.replaceState cost the page's main thread
// about 4 ms, a tenth of its time while scrubbing. Leaving or coming back to live is
// written at once.
export const URL_WRITE_MS = 300;
let urlTimer: ReturnType<typeof setTimeout> | null = null;
let urlWritten = -Infinity;

function writeMoment(): void {
  urlTimer = null;
  urlWritten = performance.now();
  const { at } = useTime.getState();
  const params = new URLSearchParams(window.location.search);
  if (at === null) params.delete("t");
  else params.set("t", isoTime(at));
  const text = params.toString();
  const search = text ? `?${text}` : "";
  if (search !== window.location.search) window.history.replaceState(null, "", `${window.location.pathname}${search}`);
}

useTime.subscribe((state, previous) => {
  if (state.at === previous.at) return;
  if (state.at === null || previous.at === null) {
    if (urlTimer !== null) clearTimeout(urlTimer);
    writeMoment();
  } else if (urlTimer === null) {
    urlTimer = setTimeout(writeMoment, Math.max(0, urlWritten + URL_WRITE_MS - performance.now()));
  }
});
