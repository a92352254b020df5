// Where the UI stands in time: `at` (epoch seconds) while looking at the past, null while
// live. The timeline, the banner and every panel read it; live/travel.ts moves it.
import { create } from "zustand";

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

export interface DiffSide { added: { id: string; name: string; kind: string }[]; removed: { id: string; name: string; kind: string }[]; changed: Record<string, Record<string, [unknown, unknown]>> }
export interface TopologyDiff { from: number; to: number; entities: DiffSide; connections: DiffSide }

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
  error: string | null;
}

export const useTime = create<TimeState>(() => ({
  at: null, shown: null, playing: false, speed: 1, timeline: null, compareFrom: null, diff: null, error: null,
}));

/** `?t=` from the page's URL (RFC 3339 or epoch seconds), or null. */
export function timeFromUrl(search: string): number | null {
  const text = new URLSearchParams(search).get("t");
  if (!text) return null;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return seconds;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms / 1000;
}

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

// The moment is part of the shareable URL (beside selection, filters and layout).
useTime.subscribe((state, previous) => {
  if (state.at === previous.at) return;
  const params = new URLSearchParams(window.location.search);
  if (state.at === null) params.delete("t");
  else params.set("t", isoTime(state.at));
  const text = params.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${text ? `?${text}` : ""}`);
});
