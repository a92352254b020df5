// The live parts of the page that outlive React renders: the graph, its streams, and
// `window.__gestalt`, the page's numbers for tests and benchmarks.
import { apiUrl, api } from "./api/http";
import { openEventStream } from "./live/eventStream";
import { TopologyStream } from "./live/topologyStream";
import { GraphStore, type DeltaTiming } from "./state/graph";
import { useUi } from "./state/ui";

export const graph = new GraphStore();

export interface RenderStats {
  drawCalls: number;
  triangles: number;
  fps: number;
  frames: number;
  /** Recent frame intervals, ms (the last 600). */
  frameTimes: number[];
  viewNodes: number;
  viewEdges: number;
  /** Entities drawn as meshes and as glyphs (level of detail) in the last frame. */
  meshes: number;
  glyphs: number;
  /** ms since navigation start when every entity was first on screen. */
  firstFullRender: number | null;
  /** Groups folded to stay within max_entities (each one view node). */
  folded: number;
}

export const renderStats: RenderStats = {
  drawCalls: 0, triangles: 0, fps: 0, frames: 0, frameTimes: [], meshes: 0, glyphs: 0, viewNodes: 0, viewEdges: 0, firstFullRender: null,
  folded: 0,
};

/** What the scene shows, for tests: set by the scene once it exists. */
export const sceneHooks: {
  screen: (id: string) => { x: number; y: number } | null;
  colour: (id: string) => [number, number, number] | null;
  highlighted: () => string[] | null;
  labels: () => { id: string; ids: string[]; text: string; kind: string }[];
  camera: () => { mode: string; moving: boolean; distance: number; position: number[] } | null;
  world: (id: string) => { position: number[]; size: number } | null;
  viewIds: () => string[];
  freeRect: () => { left: number; top: number; right: number; bottom: number } | null;
  halos: () => number;
  layoutAlpha: () => number;
} = {
  screen: () => null, colour: () => null, highlighted: () => null, labels: () => [], camera: () => null,
  freeRect: () => null, halos: () => 0, layoutAlpha: () => 1, world: () => null, viewIds: () => [],
};

export let topologyStream: TopologyStream | null = null;

export function startLive(): void {
  topologyStream = new TopologyStream(graph, {
    url: apiUrl("/api/infra/topology/stream"),
    onStatus: (status) => useUi.setState({ status }),
  });
  topologyStream.start();
  // The first batch (the replay of recent events) is not "new"; what follows is.
  let first = true;
  openEventStream(apiUrl("/api/infra/events/stream"), (events) => {
    useUi.getState().addEvents(events, !first);
    first = false;
  });
  // Panels follow the graph at a human pace, not at the delta rate.
  let seen = -1;
  let snapshots = 0;
  setInterval(() => {
    if (graph.revision !== seen) {
      seen = graph.revision;
      useUi.setState({ graphRevision: seen });
    }
    // A new snapshot after the first (the server restarted, or this page fell too far
    // behind): events of entities that are no longer there are from another life.
    const taken = topologyStream?.snapshots ?? 0;
    if (taken > snapshots) {
      if (snapshots > 0) useUi.getState().pruneEvents((e) => graph.entities.has(e.entity_id));
      snapshots = taken;
    }
  }, 250);
  const loadAlerts = () => api.alerts().then(({ alerts }) => useUi.setState({ alerts })).catch(() => undefined);
  loadAlerts();
  setInterval(loadAlerts, 5000);
  api.config().then(({ visualization, checks }) => {
    const ui = useUi.getState();
    const fromUrl = new URLSearchParams(window.location.search).get("layout");
    useUi.setState({ config: visualization, checks: checks ?? {} });
    if (!fromUrl && visualization.layout_algorithm.includes("namespace")) ui.setLayout("namespace");
  }).catch(() => undefined);
}

declare global {
  interface Window { __gestalt: unknown }
}

window.__gestalt = {
  get version() { return graph.version; },
  get entities() { return graph.entities.size; },
  get edges() { return graph.edges.size; },
  get viewNodes() { return renderStats.viewNodes; },
  get viewEdges() { return renderStats.viewEdges; },
  get folded() { return renderStats.folded; },
  get drawCalls() { return renderStats.drawCalls; },
  get meshes() { return renderStats.meshes; },
  get glyphs() { return renderStats.glyphs; },
  get triangles() { return renderStats.triangles; },
  get fps() { return renderStats.fps; },
  get frames() { return renderStats.frames; },
  get firstFullRender() { return renderStats.firstFullRender; },
  get frameTimes() { return renderStats.frameTimes.slice(); },
  get deltas(): DeltaTiming[] { return graph.timings.map((t) => ({ ...t })); },
  get status() { return useUi.getState().status; },
  get stream() {
    const s = topologyStream;
    return s ? { status: s.status, connects: s.connects, gaps: s.gaps, snapshots: s.snapshots } : null;
  },
  get events() { return useUi.getState().events.length; },
  get selected() { return useUi.getState().selected; },
  get memory() {
    const m = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
    return m ? m.usedJSHeapSize : null;
  },
  ids: () => [...graph.entities.keys()],
  /** What the map shows: entity ids, and agg:... for folded groups. */
  viewIds: () => sceneHooks.viewIds(),
  edgeIds: () => [...graph.edges.keys()],
  entity: (id: string) => graph.entities.get(id) ?? null,
  /** Page coordinates of an entity on the map (to click it), its drawn colour, the traced path. */
  screen: (id: string) => sceneHooks.screen(id),
  colour: (id: string) => sceneHooks.colour(id),
  highlighted: () => sceneHooks.highlighted(),
  /** The labels on the map (each names one entity or group, a critical one maybe more). */
  labels: () => sceneHooks.labels(),
  /** The camera's mode (auto: framing the whole map; flying; free: the user's) and distance. */
  camera: () => sceneHooks.camera(),
  /** Where a shown entity is in the scene, and its radius (world units). */
  world: (id: string) => sceneHooks.world(id),
  /** The part of the map no panel covers, page px: what framing fills. */
  freeRect: () => sceneHooks.freeRect(),
  get halos() { return sceneHooks.halos(); },
  /** The layout's temperature: it moves until this falls below 0.005. */
  get layoutAlpha() { return sceneHooks.layoutAlpha(); },
  /** Drop the topology stream as a network failure would (for resume tests). */
  dropStream: () => topologyStream?.forceReconnect(),
};
