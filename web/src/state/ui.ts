// UI state (zustand): selection, filters, panels, the event feed, connection status.
// The graph itself lives in the GraphStore; `graphRevision` is its throttled echo for panels.
import { create } from "zustand";
import type { Alert, InfraEvent, VisualizationConfig } from "../api/types";
import { afterSnapshot, mergeEvents } from "./events";
import { EMPTY_FILTERS, type Filters, type LayoutPreset, parseUrl, toSearch } from "./url";

/** The topology stream's connection, as the outage banner and the top bar show it. */
export type StreamStatus = "connecting" | "live" | "reconnecting";

export type Tab = "details" | "events" | "alerts";

export interface UiState {
  filters: Filters;
  selected: string | null;
  hovered: string | null;
  layout: LayoutPreset;
  tab: Tab;
  sheetOpen: boolean;
  status: StreamStatus;
  events: InfraEvent[];
  /** Event ids that arrived after the first load, highlighted until they age. */
  freshEvents: Record<string, number>;
  alerts: Alert[];
  config: VisualizationConfig;
  /** Health check id -> title (from /api/infra/config), for alert rules. */
  checks: Record<string, string>;
  /** What exported files are named after: the server's site (or machine). */
  site: string;
  expanded: string[];
  graphRevision: number;
  flyTo: { id: string; at: number } | null;
  /** What the map shows: view nodes, and how many of them are folded groups. */
  shown: { nodes: number; folded: number };
  /** Bumped to ask the camera to frame the whole map (Home, the fit button, Esc, a layout or filter change). */
  fitRequest: number;
  setFilters: (f: Partial<Filters>) => void;
  select: (id: string | null) => void;
  hover: (id: string | null) => void;
  setLayout: (l: LayoutPreset) => void;
  setTab: (t: Tab) => void;
  setSheetOpen: (open: boolean) => void;
  addEvents: (events: InfraEvent[], fresh: boolean) => void;
  /** The map was taken afresh: keep the feed for the same change log, else only events of
   * entities on the new map (see state/events.ts `afterSnapshot`). */
  eventsAfterSnapshot: (sameLog: boolean, onMap: (id: string) => boolean) => void;
  fly: (id: string) => void;
  requestFit: () => void;
  expand: (key: string) => void;
  fold: (key: string) => void;
}

const initial = parseUrl(window.location.search);

export const useUi = create<UiState>((set, get) => ({
  filters: { ...EMPTY_FILTERS, q: initial.q, kinds: initial.kinds, namespaces: initial.namespaces, sources: initial.sources, health: initial.health, mode: initial.mode },
  selected: initial.selected,
  hovered: null,
  layout: initial.layout ?? "force",
  tab: "details",
  sheetOpen: false,
  status: "connecting",
  events: [],
  freshEvents: {},
  alerts: [],
  config: { max_entities: 1000, layout_algorithm: "force-directed-3d", animation_fps: 60 },
  checks: {},
  site: "gestalt",
  expanded: [],
  graphRevision: 0,
  flyTo: null,
  fitRequest: 0,
  shown: { nodes: 0, folded: 0 },
  setFilters: (f) => set({ filters: { ...get().filters, ...f } }),
  select: (id) => set({ selected: id, tab: id ? "details" : get().tab }),
  hover: (id) => { if (get().hovered !== id) set({ hovered: id }); },
  setLayout: (layout) => set({ layout, fitRequest: get().fitRequest + 1 }),
  setTab: (tab) => set({ tab }),
  setSheetOpen: (sheetOpen) => set({ sheetOpen }),
  addEvents: (incoming, fresh) => {
    const held = get().events;
    const events = mergeEvents(held, incoming);
    if (events === held) return;
    const freshEvents = { ...get().freshEvents };
    // Only rows new or newer: a replay after a reconnect repeats rows already seen.
    const seen = new Set(held);
    if (fresh) for (const e of events) if (!seen.has(e)) freshEvents[e.id] = Date.now();
    set({ events, freshEvents });
  },
  eventsAfterSnapshot: (sameLog, onMap) => {
    const events = afterSnapshot(get().events, sameLog, onMap);
    if (events !== get().events) set({ events });
  },
  fly: (id) => set({ flyTo: { id, at: performance.now() } }),
  requestFit: () => set({ fitRequest: get().fitRequest + 1, flyTo: null }),
  expand: (key) => set({ expanded: [...get().expanded.filter((k) => k !== key), key] }),
  fold: (key) => set({ expanded: get().expanded.filter((k) => k !== key) }),
}));

// Keep the URL in step with selection, filters and layout (replaceState: no history spam).
useUi.subscribe((state, previous) => {
  if (state.filters === previous.filters && state.selected === previous.selected && state.layout === previous.layout) return;
  const search = toSearch({ ...state.filters, selected: state.selected, layout: state.layout === "force" ? null : state.layout }, window.location.search);
  if (search !== window.location.search) window.history.replaceState(null, "", `${window.location.pathname}${search}`);
});
