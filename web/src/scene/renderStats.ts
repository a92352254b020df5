// The renderer's own numbers, written by MapCanvas each frame and read by the test hooks
// (window.__gestalt) and the benchmarks: they are measurements, not state, so no store.

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
