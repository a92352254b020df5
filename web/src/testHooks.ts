// `window.__gestalt`: the page's numbers and handles for the end-to-end tests and the
// browser benchmarks, all in one place. The scene fills `sceneHooks` once it exists;
// nothing in the UI reads `__gestalt`.
import type { Live } from "./live/start";
import { renderStats } from "./scene/renderStats";
import type { DeltaTiming, GraphStore, SnapshotTiming } from "./state/graph";
import { useTime } from "./state/time";
import { useUi } from "./state/ui";

/** What the scene shows, for tests: set by MapCanvas once the scene exists. */
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
  changes: () => { id: string; change: string }[];
  layoutAlpha: () => number;
  drawCost: (repeats: number) => Record<string, number>;
} = {
  screen: () => null, colour: () => null, highlighted: () => null, labels: () => [], camera: () => null,
  freeRect: () => null, halos: () => 0, changes: () => [], layoutAlpha: () => 1, world: () => null, viewIds: () => [],
  drawCost: () => ({}),
};

declare global {
  interface Window { __gestalt: unknown }
}

export function installTestHooks(graph: GraphStore, live: Live): void {
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
    /** Snapshots applied (each moment shown while scrubbing), asked -> applied -> rendered. */
    get snapshots(): SnapshotTiming[] { return graph.snapshots.map((t) => ({ ...t })); },
    get status() { return useUi.getState().status; },
    get stream() {
      const s = live.topology;
      return { status: s.status, connects: s.connects, gaps: s.gaps, snapshots: s.snapshots };
    },
    get events() { return useUi.getState().events.length; },
    get selected() { return useUi.getState().selected; },
    /** The moment shown (epoch seconds), null while live; the version the map shows then. */
    get at() { return useTime.getState().at; },
    get shownVersion() { return useTime.getState().shown?.version ?? null; },
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
    /** Compare marks on the map: view node id and how it changed. */
    changes: () => sceneHooks.changes(),
    /** The layout's temperature: it moves until this falls below 0.005. */
    get layoutAlpha() { return sceneHooks.layoutAlpha(); },
    /** Per layer of the scene, ms to draw it alone and wait for the renderer (a 1-pixel
     * read waits for the frame): where a software renderer's frame time goes. */
    drawCost: (repeats = 3) => sceneHooks.drawCost(repeats),
    /** Drop the topology stream as a network failure would (for resume tests). */
    dropStream: () => live.topology.forceReconnect(),
  };
}
