// The 3D map: a react-three-fiber Canvas around the imperative SceneGraph. Rendering is done
// here by hand (a priority useFrame) so that each frame can stamp rendered_at on the deltas
// it shows, read renderer.info, and honour visualization.animation_fps. The camera's moves
// are camera.ts's, the labels labelling.ts's.
import { Canvas, useFrame, useThree } from "@react-three/fiber";
import { useEffect, useMemo, useRef } from "react";
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { LayoutClient } from "../layout/client";
import { type GraphStore, nowMs } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { useColouring } from "../state/colouring";
import { countHealth } from "../state/health";
import { useUi } from "../state/ui";
import { useInsight } from "../state/insight";
import { matchesSearch, tracePath } from "../state/view";
import { ViewBuilder } from "../state/viewUpdate";
import { changesOf } from "../state/compare";
import { useTime } from "../state/time";
import { sceneHooks } from "../testHooks";
import { mapCapture } from "./capture";
import { CameraDirector, aimAt, occluders, readFreeRect } from "./camera";
import { type LabelItem, placeLabels, textMeasurer, wishLabels } from "./labelling";
import { Labels } from "./Labels";
import { describeEntity } from "./describe";
import { pick } from "./picking";
import { RenderScale, cameraMoved } from "./renderScale";
import { renderStats } from "./renderStats";
import { GPU_OPTIONS, SOFTWARE_OPTIONS, SceneGraph } from "./SceneGraph";

/** How long a view not placed enough (`SceneGraph.placedEnough`) waits before it is drawn
 * anyway, its placed nodes only. */
const PLACES_WAIT_MS = 1500;

/** The direction each layout is best seen along (camera to scene). */
const LAYOUT_VIEWS: Record<string, THREE.Vector3> = {
  force: new THREE.Vector3(0, -140, -360),
  namespace: new THREE.Vector3(0, -200, -360),
  kind: new THREE.Vector3(0, -40, -360),
};

// The graph comes as a prop: the Canvas is a React root of its own.
function MapScene({ graph, labels }: { graph: GraphStore; labels: React.RefObject<LabelItem[]> }) {
  const { scene, camera, gl, size } = useThree();
  const sceneGraph = useMemo(() => new SceneGraph(SOFTWARE ? SOFTWARE_OPTIONS : GPU_OPTIONS), []);
  const layout = useMemo(() => new LayoutClient(), []);
  const views = useMemo(() => new ViewBuilder(), []);
  const renderScale = useMemo(() => new RenderScale(SOFTWARE), []);
  const controls = useMemo(() => {
    const c = new OrbitControls(camera, gl.domElement);
    c.enableDamping = true;
    c.dampingFactor = 0.12;
    c.maxDistance = 8000;
    c.minDistance = 5;
    return c;
  }, [camera, gl]);
  const director = useMemo(() => new CameraDirector(camera as THREE.PerspectiveCamera, controls), [camera, controls]);
  const measure = useMemo(() => textMeasurer(), []);
  const state = useRef({
    structure: -1, revision: -1, viewKey: "", highlightKey: "",
    lastRender: 0, lastFrame: 0, fpsWindow: 0, fpsFrames: 0, lastLabels: 0,
    // The graph version the scene shows, and when the next rebuild / restyle may run.
    shownVersion: 0, nextRebuild: 0, nextStyle: 0, insight: 0, lastParticles: 0, fieldsShape: false, dirty: true,
    fence: null as WebGLSync | null, diff: null as unknown, early: false, rebuildCost: 0, fitRequest: 0, flyAt: 0, layout: useUi.getState().layout,
    // Where the camera was at the last tick, whether it moved since, and the pixel ratio
    // the next frame is drawn at (renderScale.ts).
    lastCamera: new Float32Array(7), moving: false, scale: 1,
    // Since when the view has had many nodes the layout has not placed yet (0: none).
    unplacedSince: 0,
  });

  useEffect(() => {
    scene.add(sceneGraph.root);
    const release = () => director.release();
    controls.addEventListener("start", release);
    return () => {
      scene.remove(sceneGraph.root);
      controls.removeEventListener("start", release);
      controls.dispose();
    };
  }, [scene, sceneGraph, controls, director]);

  const layoutPreset = useUi((s) => s.layout);
  useEffect(() => layout.setPreset(layoutPreset), [layout, layoutPreset]);

  // Pointer: hover (a pointer cursor over an entity), click to select, double-click to fly.
  useEffect(() => {
    const el = gl.domElement;
    let down = { x: 0, y: 0 };
    const at = (ev: MouseEvent) => {
      const rect = el.getBoundingClientRect();
      return pick(sceneGraph, ev.clientX - rect.left, ev.clientY - rect.top, rect.width, rect.height, camera);
    };
    const move = (ev: PointerEvent) => {
      const id = at(ev);
      el.style.cursor = id ? "pointer" : "";
      useUi.getState().hover(id);
    };
    const press = (ev: PointerEvent) => { down = { x: ev.clientX, y: ev.clientY }; };
    const click = (ev: MouseEvent) => {
      if (Math.hypot(ev.clientX - down.x, ev.clientY - down.y) > 5) return; // a drag, not a click
      useUi.getState().select(at(ev));
    };
    const dbl = (ev: MouseEvent) => {
      const id = at(ev);
      if (id) useUi.getState().fly(id);
    };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerdown", press);
    el.addEventListener("click", click);
    el.addEventListener("dblclick", dbl);
    sceneHooks.colour = (id) => sceneGraph.colourOf(id);
    sceneHooks.highlighted = () => (sceneGraph.highlight ? [...sceneGraph.highlight] : null);
    sceneHooks.screen = (id) => {
      const p = sceneGraph.positionOf(id);
      if (!p) return null;
      p.project(camera);
      if (p.z > 1) return null;
      const rect = el.getBoundingClientRect();
      return { x: rect.left + (p.x + 1) / 2 * rect.width, y: rect.top + (1 - p.y) / 2 * rect.height };
    };
    sceneHooks.labels = () => (labels.current ?? []).map((l) => ({ id: l.id, ids: l.ids, text: l.text, kind: l.kind }));
    sceneHooks.camera = () => ({
      mode: director.mode, moving: director.moving, distance: camera.position.distanceTo(controls.target),
      position: camera.position.toArray(),
    });
    sceneHooks.world = (id) => {
      const i = sceneGraph.index.get(sceneGraph.view.shownAs.get(id) ?? id);
      return i === undefined ? null : { position: [...sceneGraph.pos.subarray(i * 3, i * 3 + 3)], size: sceneGraph.sizes[i] };
    };
    sceneHooks.freeRect = () => {
      const rect = el.getBoundingClientRect();
      const free = readFreeRect(el);
      return { left: rect.left + free.left, top: rect.top + free.top, right: rect.left + free.right, bottom: rect.top + free.bottom };
    };
    sceneHooks.halos = () => sceneGraph.haloCount;
    sceneHooks.layoutAlpha = () => sceneGraph.layoutAlpha;
    sceneHooks.viewIds = () => sceneGraph.view.nodes.map((n) => n.id);
    sceneHooks.changes = () => sceneGraph.changeMarked.map((m) => ({ ...m }));
    sceneHooks.drawCost = (repeats) => {
      const ctx = gl.getContext();
      const pixel = new Uint8Array(4);
      const timed = () => {
        let least = Infinity; // the least of a few: other work on the machine only adds
        for (let r = 0; r < repeats; r++) {
          const start = performance.now();
          gl.render(scene, camera);
          ctx.readPixels(0, 0, 1, 1, ctx.RGBA, ctx.UNSIGNED_BYTE, pixel);
          least = Math.min(least, performance.now() - start);
        }
        return least;
      };
      const layers = sceneGraph.root.children.filter((c) => c.visible);
      const cost: Record<string, number> = { all: timed() };
      for (const layer of layers) layer.visible = false;
      cost.clear = timed();
      for (const layer of layers) {
        layer.visible = true;
        cost[layer.name] = (cost[layer.name] ?? 0) + timed() - cost.clear;
        if (layer instanceof THREE.Mesh || layer instanceof THREE.Points || layer instanceof THREE.LineSegments) {
          const g = layer.geometry as THREE.BufferGeometry;
          const each = layer instanceof THREE.InstancedMesh ? layer.count * (g.index?.count ?? 0) : 1;
          cost[`${layer.name} vertices`] = layer instanceof THREE.InstancedMesh ? each : Math.min(g.drawRange.count, g.getAttribute("position").count);
        }
        layer.visible = false;
      }
      for (const layer of layers) layer.visible = true;
      // Software compositing reads every frame back whole: that read alone.
      const whole = new Uint8Array(ctx.drawingBufferWidth * ctx.drawingBufferHeight * 4);
      const start = performance.now();
      for (let r = 0; r < repeats; r++) ctx.readPixels(0, 0, ctx.drawingBufferWidth, ctx.drawingBufferHeight, ctx.RGBA, ctx.UNSIGNED_BYTE, whole);
      cost.readback = (performance.now() - start) / repeats;
      return cost;
    };
    mapCapture.frame = () => {
      // Not the softer, sparser picture of a move: full resolution, every edge in budget.
      if (gl.getPixelRatio() < 1) gl.setPixelRatio(1);
      sceneGraph.fullDetail();
      gl.render(scene, camera);
      // Counted as the health summary counts them: a comparison's ghosts are not of the
      // moment shown.
      return { canvas: el, labels: labels.current ?? [], health: countHealth(graph.entities.values(), useTime.getState().ghosts?.entities).all };
    };
    return () => {
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerdown", press);
      el.removeEventListener("click", click);
      el.removeEventListener("dblclick", dbl);
    };
  }, [gl, camera, scene, sceneGraph, controls, director, labels, layout, graph]);

  // Render by hand, only when the picture changed (on demand), at most animation_fps times
  // a second; then stamp the deltas this frame shows. The drawing commands are flushed at
  // once, so that a renderer in another process (a GPU, or SwiftShader) starts at once.
  // Where the compositor reads each frame back (software compositing), this thread waits
  // there for all of the drawing: while the camera moves, and after a view rebuild, a tick
  // draws first what the last one prepared, then prepares the next frame while that one is
  // drawn (10,000 entities orbiting, four pairs on a busy 2-core machine: 37 fps median against
  // 33.5). Otherwise a change
  // is drawn in the tick that prepared it, a frame sooner.
  const draw = () => {
    const s = state.current;
    const now = performance.now();
    const fps = useUi.getState().config.animation_fps || 60;
    if (!s.dirty || (fps < 60 && now - s.lastRender < 1000 / fps - 2)) return;
    // A new map (or many newcomers without an owner in view) waits for the layout's first
    // places, a few ms away: drawn before, every node would be at the origin, each as wide
    // as a close camera makes it (10,000 entities: 41 million pixels, 3 s of software
    // rendering that the page's main thread waited through, twice, before the first sight
    // of the map). A layout that does not answer holds nothing back for long: what it placed
    // is drawn, the rest waits (the layers draw placed nodes only).
    if (s.unplacedSince && now - s.unplacedSince < PLACES_WAIT_MS) return;
    // At most one frame in flight: while the GPU (or a software renderer) is still drawing
    // the last one, queuing another would block this thread in WebGL calls, and deltas
    // would wait behind it. A fence says, without waiting, when the last frame is done.
    const ctx = gl.getContext();
    if (s.fence && ctx instanceof WebGL2RenderingContext) {
      if (ctx.getSyncParameter(s.fence, ctx.SYNC_STATUS) !== ctx.SIGNALED) return;
      ctx.deleteSync(s.fence);
      s.fence = null;
    }
    s.dirty = false;
    if (gl.getPixelRatio() !== s.scale) gl.setPixelRatio(s.scale);
    gl.info.autoReset = false;
    gl.info.reset();
    gl.render(scene, camera);
    if (ctx instanceof WebGL2RenderingContext) s.fence = ctx.fenceSync(ctx.SYNC_GPU_COMMANDS_COMPLETE, 0);
    ctx.flush();
    s.lastRender = now;
    if (s.moving) renderScale.drawn(now);
    graph.markRendered(nowMs(), s.shownVersion, s.revision);
    renderStats.drawCalls = gl.info.render.calls;
    renderStats.triangles = gl.info.render.triangles;
    renderStats.frames += 1;
    if (renderStats.firstFullRender === null && graph.entities.size > 0 && renderStats.viewNodes === graph.entities.size
      && sceneGraph.placedEnough) {
      renderStats.firstFullRender = now;
    }
    if (s.lastFrame) {
      renderStats.frameTimes.push(now - s.lastFrame);
      if (renderStats.frameTimes.length > 600) renderStats.frameTimes.shift();
    }
    s.lastFrame = now;
    s.fpsFrames += 1;
    if (now - s.fpsWindow >= 1000) {
      renderStats.fps = (s.fpsFrames * 1000) / (now - s.fpsWindow || 1000);
      s.fpsWindow = now;
      s.fpsFrames = 0;
    }
  };
  useFrame(() => {
    if (state.current.early) draw();
  }, 1);
  useFrame(() => {
    if (!state.current.early) draw();
  }, 3);

  // Scene update: view, layout, camera, labels.
  useFrame(({ clock }) => {
    const s = state.current;
    const ui = useUi.getState();
    sceneGraph.prepare(gl);
    const insight = useInsight.getState();
    const only = insight.unusualOnly ? insight.unusual : null;
    const viewKey = JSON.stringify([ui.filters.kinds, ui.filters.namespaces, ui.filters.sources, ui.filters.health, ui.filters.mode, ui.config.max_entities, ui.expanded, only && [...only]]);
    const frameStart = performance.now();
    // Deltas arrive faster than a big view can be rebuilt: rebuilds (and restyles) wait
    // three times their cost after the last one, so they take at most a quarter of the
    // main thread; changes in between are taken in together. A changed filter is at once.
    const restructure = graph.structure !== s.structure || (s.fieldsShape && graph.revision !== s.revision);
    let rebuilt = false;
    if (viewKey !== s.viewKey || (restructure && frameStart >= s.nextRebuild)) {
      // Another filter shows another map: frame it.
      if (s.viewKey && viewKey !== s.viewKey) director.fitAll();
      s.structure = graph.structure;
      s.revision = graph.revision;
      s.viewKey = viewKey;
      s.shownVersion = graph.version;
      const view = views.build(graph, ui.filters, ui.config.max_entities, new Set(ui.expanded), only);
      rebuilt = true;
      const removed = graph.removedSinceRender;
      graph.removedSinceRender = [];
      // A view updated from the graph's changes keeps the style of what did not change.
      const restyle = graph.takeRestyled();
      sceneGraph.setView(view, removed, layout, views.incremental ? restyle : null);
      layout.sync(view, views.changes);
      // Aggregates' health and the health filter follow fields: field changes rebuild too.
      s.fieldsShape = ui.filters.health.length > 0 || view.nodes.some((n) => n.members);
      s.lastParticles = frameStart;
      renderStats.viewNodes = view.nodes.length;
      renderStats.viewEdges = view.edges.length;
      renderStats.folded = view.nodes.reduce((n, node) => n + (node.members ? 1 : 0), 0);
      if (ui.shown.nodes !== view.nodes.length || ui.shown.folded !== renderStats.folded) {
        useUi.setState({ shown: { nodes: view.nodes.length, folded: renderStats.folded } });
      }
      s.highlightKey = "";
      // Paced by the smoothed cost (one slow rebuild on a busy machine must not hold the
      // next one back for long), never more than 300 ms apart.
      s.rebuildCost = s.rebuildCost ? s.rebuildCost * 0.7 + (performance.now() - frameStart) * 0.3 : performance.now() - frameStart;
      s.nextRebuild = performance.now() + Math.min(300, s.rebuildCost * 3);
    } else if (!restructure && (graph.revision !== s.revision || insight.revision !== s.insight) && frameStart >= s.nextStyle) {
      s.revision = graph.revision;
      const figures = insight.revision !== s.insight; // colour by cost or waste: new figures restyle
      s.insight = insight.revision;
      s.shownVersion = graph.version;
      // Particles follow rates (metrics frames, once a second): at most twice a second.
      const particles = frameStart - s.lastParticles > 500;
      if (particles) s.lastParticles = frameStart;
      // New cost figures restyle every node; new fields the entities they changed.
      const restyle = graph.takeRestyled();
      sceneGraph.refreshStyle(particles, figures ? null : restyle);
      s.nextStyle = performance.now() + (performance.now() - frameStart) * 3;
    }
    // Comparing two moments: mark what was added, changed and removed.
    const diff = useTime.getState().diff;
    if (diff !== s.diff) {
      s.diff = diff;
      sceneGraph.setChanges(diff ? changesOf(diff) : null);
    }
    const colourBy = useColouring.getState().colourBy;
    if (colourBy !== sceneGraph.colourBy) {
      sceneGraph.colourBy = colourBy;
      sceneGraph.refreshStyle(false);
    }
    // Path tracing for the selection; search matches are highlighted likewise.
    const highlightKey = `${ui.selected}|${ui.filters.q}|${s.structure}`;
    if (highlightKey !== s.highlightKey) {
      s.highlightKey = highlightKey;
      const shown = ui.selected ? sceneGraph.view.shownAs.get(ui.selected) ?? null : null;
      if (shown) sceneGraph.setHighlight(tracePath(shown, sceneGraph.view.edges));
      else if (ui.filters.q) {
        sceneGraph.setHighlight(new Set(sceneGraph.view.nodes.filter((n) => matchesSearch(n.entity, ui.filters.q)).map((n) => n.id)));
      } else sceneGraph.setHighlight(null);
      sceneGraph.selected = shown;
    }
    sceneGraph.hovered = ui.hovered;
    const distance = camera.position.distanceTo(controls.target);
    // While the camera moves, a software renderer draws at the scale its pace allows; at
    // rest, at full resolution. The ratio is set just before drawing: resizing the canvas
    // clears it, and a frame not drawn then (one still in flight) would show it blank.
    s.moving = cameraMoved(camera, s.lastCamera, distance);
    s.scale = SOFTWARE ? renderScale.scale(s.moving, frameStart) : gl.getPixelRatio();
    if (gl.getPixelRatio() !== s.scale) s.dirty = true;
    const dpr = s.scale;
    // Lines cost a software renderer per line, not per pixel: the resolution given up while
    // moving gives up as large a share of the edges drawn (the shortest on screen stay).
    if (sceneGraph.update(layout, clock.elapsedTime, camera, distance, size.height * dpr, dpr, SOFTWARE ? Math.min(1, s.scale) : 1)) s.dirty = true;
    if (sceneGraph.placedEnough) s.unplacedSince = 0;
    else if (!s.unplacedSince) s.unplacedSince = frameStart;
    renderStats.meshes = sceneGraph.meshCount;
    renderStats.glyphs = sceneGraph.glyphCount;

    // Camera: fit-all on request, fly-to, and framing that follows the layout.
    const now = performance.now();
    if (ui.fitRequest !== s.fitRequest) {
      s.fitRequest = ui.fitRequest;
      // Layers by kind read from the side; other layouts from where the camera is.
      const turned = ui.layout !== s.layout;
      s.layout = ui.layout;
      director.fitAll(turned ? LAYOUT_VIEWS[ui.layout] : undefined);
    }
    if (ui.flyTo && ui.flyTo.at !== s.flyAt) {
      s.flyAt = ui.flyTo.at;
      const id = ui.flyTo.id;
      const indexOf = () => sceneGraph.index.get(sceneGraph.view.shownAs.get(id) ?? id);
      director.flyTo(now, () => {
        const i = indexOf();
        return i === undefined ? null : aimAt(sceneGraph, i, camera as THREE.PerspectiveCamera, controls.target, readFreeRect(gl.domElement), size);
      }, () => {
        const i = indexOf();
        return i !== undefined && occluders(sceneGraph, i, camera.position) > 0;
      });
      useUi.setState({ flyTo: null });
    }
    const fitKey = `${layout.revision}|${sceneGraph.view.nodes.length}|${size.width}x${size.height}|${ui.sheetOpen}`;
    if (director.update(now, sceneGraph, fitKey, gl.domElement, size)) s.dirty = true;
    controls.update();

    // Labels, a dozen times a second.
    if (now - s.lastLabels > 80) {
      s.lastLabels = now;
      const hoverIndex = ui.hovered ? sceneGraph.index.get(ui.hovered) : undefined;
      const hoverText = hoverIndex !== undefined ? describeEntity(sceneGraph.view.nodes[hoverIndex].entity) : null;
      const wishes = wishLabels(sceneGraph, { camera, width: size.width, height: size.height, pixelRatio: dpr, distance }, ui.layout, ui.selected, ui.hovered, hoverText);
      labels.current = placeLabels(wishes, size.width, size.height, measure);
    }
    // Drawn at the start of the next tick (above): while the camera moves, and after a
    // rebuild while live (deltas must not wait for a rebuild and a drawing in one task). In
    // the past no deltas stream in, and a moment scrubbed to is drawn in this tick.
    s.early = s.moving || (rebuilt && useTime.getState().at === null);
  }, 2);

  return (
    <>
      <hemisphereLight args={[0xbfd4ff, 0x101522, 1.4]} />
      <ambientLight intensity={0.35} />
      <directionalLight position={[300, 500, 400]} intensity={1.6} />
      <directionalLight position={[-400, -200, -300]} intensity={0.5} color={0x6d8cff} />
    </>
  );
}

/** Software WebGL (SwiftShader, llvmpipe): no GPU, so no multisampling and 1 px per px. */
function softwareRenderer(): boolean {
  try {
    const gl = document.createElement("canvas").getContext("webgl2");
    if (!gl) return true;
    const info = gl.getExtension("WEBGL_debug_renderer_info");
    const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : "";
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return /swiftshader|llvmpipe|software/i.test(name);
  } catch {
    return true;
  }
}

const SOFTWARE = softwareRenderer();

/** The map's own controls: frame everything (also the Home key). */
function MapControls() {
  const graph = useGraph();
  const requestFit = useUi((s) => s.requestFit);
  const shown = useUi((s) => s.shown);
  useUi((s) => s.graphRevision);
  useEffect(() => {
    const key = (ev: KeyboardEvent) => {
      const typing = ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement;
      if (ev.key === "Home" && !typing) { ev.preventDefault(); requestFit(); }
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [requestFit]);
  return (
    <div className="map-controls" data-obstacle>
      <button type="button" data-testid="fit-all" title="Show the whole map (Home)" onClick={requestFit}>
        <span aria-hidden="true">⤢</span><span className="fit-label"> Fit all</span>
      </button>
      {shown.folded > 0 && (
        <div className="map-note" data-testid="fold-note"
          title="Beyond visualization.max_entities, many alike entities are drawn as one group: select a group to expand it.">
          {shown.nodes - shown.folded} of {graph.entities.size} shown · {shown.folded} {shown.folded === 1 ? "group" : "groups"} folded
        </div>
      )}
    </div>
  );
}

export function MapCanvas() {
  const graph = useGraph();
  const labels = useRef<LabelItem[]>([]);
  return (
    <div className="map" data-testid="map">
      <Canvas
        camera={{ fov: 50, near: 0.5, far: 30000, position: [0, 140, 360] }}
        gl={{ antialias: !SOFTWARE, powerPreference: "high-performance" }}
        dpr={SOFTWARE ? 1 : [1, 2]}
        onCreated={({ gl, scene }) => {
          gl.setClearColor(new THREE.Color("#070b14"));
          scene.fog = new THREE.FogExp2(0x070b14, 0.00045);
        }}
      >
        <MapScene graph={graph} labels={labels} />
      </Canvas>
      <Labels items={labels} />
      <MapControls />
    </div>
  );
}
