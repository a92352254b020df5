// The 3D map: a react-three-fiber Canvas around the imperative SceneGraph. Rendering is done
// here by hand (a priority useFrame) so that each frame can stamp rendered_at on the deltas
// it shows, read renderer.info, and honour visualization.animation_fps.
import { Canvas, useFrame, useThree } from "@react-three/fiber";
import { useEffect, useMemo, useRef } from "react";
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { graph, renderStats, sceneHooks } from "../app";
import { LayoutClient } from "../layout/client";
import { nowMs } from "../state/graph";
import { useUi } from "../state/ui";
import { buildView, matchesSearch, tracePath } from "../state/view";
import { Labels, type LabelItem } from "./Labels";
import { GPU_OPTIONS, SOFTWARE_OPTIONS, SceneGraph } from "./SceneGraph";

function MapScene({ labels }: { labels: React.RefObject<LabelItem[]> }) {
  const { scene, camera, gl, size } = useThree();
  const sceneGraph = useMemo(() => new SceneGraph(SOFTWARE ? SOFTWARE_OPTIONS : GPU_OPTIONS), []);
  const layout = useMemo(() => new LayoutClient(), []);
  const controls = useMemo(() => {
    const c = new OrbitControls(camera, gl.domElement);
    c.enableDamping = true;
    c.dampingFactor = 0.12;
    c.maxDistance = 8000;
    c.minDistance = 5;
    return c;
  }, [camera, gl]);
  const state = useRef({
    structure: -1, revision: -1, viewKey: "", highlightKey: "", userMoved: false, lastFit: 0,
    lastRender: 0, lastFrame: 0, fpsWindow: 0, fpsFrames: 0, lastLabels: 0,
    // The graph version the scene shows, and when the next rebuild / restyle may run.
    shownVersion: 0, nextRebuild: 0, nextStyle: 0, lastParticles: 0, fieldsShape: false, dirty: true,
    fence: null as WebGLSync | null, drawNext: false, rebuildCost: 0,
    fly: null as null | { from: THREE.Vector3; to: THREE.Vector3; fromCam: THREE.Vector3; toCam: THREE.Vector3; start: number },
  });

  useEffect(() => {
    scene.add(sceneGraph.root);
    const mark = () => { state.current.userMoved = true; };
    controls.addEventListener("start", mark);
    return () => {
      scene.remove(sceneGraph.root);
      controls.removeEventListener("start", mark);
      controls.dispose();
    };
  }, [scene, sceneGraph, controls]);

  const layoutPreset = useUi((s) => s.layout);
  useEffect(() => layout.setPreset(layoutPreset), [layout, layoutPreset]);

  // Pointer: hover, click to select (and trace paths), double-click to fly.
  useEffect(() => {
    const el = gl.domElement;
    let down = { x: 0, y: 0 };
    const at = (ev: MouseEvent) => {
      const rect = el.getBoundingClientRect();
      return sceneGraph.pick(ev.clientX - rect.left, ev.clientY - rect.top, rect.width, rect.height, camera);
    };
    const move = (ev: PointerEvent) => useUi.getState().hover(at(ev));
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
      const rect = el.getBoundingClientRect();
      return { x: rect.left + (p.x + 1) / 2 * rect.width, y: rect.top + (1 - p.y) / 2 * rect.height };
    };
    return () => {
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerdown", press);
      el.removeEventListener("click", click);
      el.removeEventListener("dblclick", dbl);
    };
  }, [gl, camera, sceneGraph]);

  // Scene update: view, layout, animation.
  useFrame(({ clock }) => {
    const s = state.current;
    const ui = useUi.getState();
    sceneGraph.prepare(gl);
    const viewKey = JSON.stringify([ui.filters.kinds, ui.filters.namespaces, ui.filters.sources, ui.filters.health, ui.config.max_entities, ui.expanded]);
    const frameStart = performance.now();
    // Deltas arrive faster than a big view can be rebuilt: rebuilds (and restyles) wait
    // three times their cost after the last one, so they take at most a quarter of the
    // main thread; changes in between are taken in together. A changed filter is at once.
    const restructure = graph.structure !== s.structure || (s.fieldsShape && graph.revision !== s.revision);
    if (viewKey !== s.viewKey || (restructure && frameStart >= s.nextRebuild)) {
      s.structure = graph.structure;
      s.revision = graph.revision;
      s.viewKey = viewKey;
      s.shownVersion = graph.version;
      const view = buildView(graph.entities, graph.edges, ui.filters, ui.config.max_entities, new Set(ui.expanded));
      const removed = graph.removedSinceRender;
      graph.removedSinceRender = [];
      sceneGraph.setView(view, removed, layout);
      layout.sync(view);
      // Aggregates' health and the health filter follow fields: field changes rebuild too.
      s.fieldsShape = ui.filters.health.length > 0 || view.nodes.some((n) => n.members);
      s.lastParticles = frameStart;
      renderStats.viewNodes = view.nodes.length;
      renderStats.viewEdges = view.edges.length;
      s.highlightKey = "";
      // Paced by the smoothed cost (one slow rebuild on a busy machine must not hold the
      // next one back for long), never more than 300 ms apart.
      s.rebuildCost = s.rebuildCost ? s.rebuildCost * 0.7 + (performance.now() - frameStart) * 0.3 : performance.now() - frameStart;
      s.nextRebuild = performance.now() + Math.min(300, s.rebuildCost * 3);
      // Drawing waits for the next frame: where drawing blocks this thread (software
      // compositing reads each frame back), a rebuild and a draw in one task would keep
      // deltas waiting for both.
      s.drawNext = true;
    } else if (!restructure && graph.revision !== s.revision && frameStart >= s.nextStyle) {
      s.revision = graph.revision;
      s.shownVersion = graph.version;
      // Particles follow rates (metrics frames, once a second): at most twice a second.
      const particles = frameStart - s.lastParticles > 500;
      if (particles) s.lastParticles = frameStart;
      sceneGraph.refreshStyle(particles);
      s.nextStyle = performance.now() + (performance.now() - frameStart) * 3;
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
    if (sceneGraph.update(layout, clock.elapsedTime, camera, distance, size.height * gl.getPixelRatio())) s.dirty = true;
    renderStats.meshes = sceneGraph.meshCount;
    renderStats.glyphs = sceneGraph.glyphCount;

    // Frame the map until the user takes the camera.
    const now = performance.now();
    if (!s.userMoved && !s.fly && now - s.lastFit > 500 && sceneGraph.view.nodes.length) {
      s.lastFit = now;
      const { centre, radius } = sceneGraph.bounds();
      const fov = ((camera as THREE.PerspectiveCamera).fov * Math.PI) / 180;
      const aspect = Math.min(1, size.width / Math.max(1, size.height));
      const want = (radius / Math.sin(fov / 2)) / Math.max(0.55, aspect) * 0.85;
      const dir = camera.position.clone().sub(controls.target).normalize();
      controls.target.lerp(centre, 0.5);
      camera.position.copy(controls.target).addScaledVector(dir, distance + (want - distance) * 0.5);
    }
    if (ui.flyTo && (!s.fly || s.fly.start < ui.flyTo.at)) {
      const p = sceneGraph.positionOf(ui.flyTo.id);
      if (p) {
        const dir = camera.position.clone().sub(controls.target).normalize();
        s.fly = { from: controls.target.clone(), to: p, fromCam: camera.position.clone(), toCam: p.clone().addScaledVector(dir, 45), start: now };
        s.userMoved = true;
      }
      useUi.setState({ flyTo: null });
    }
    if (s.fly) {
      const t = Math.min(1, (now - s.fly.start) / 900);
      const e = t < 0.5 ? 4 * t * t * t : 1 - (-2 * t + 2) ** 3 / 2;
      controls.target.lerpVectors(s.fly.from, s.fly.to, e);
      camera.position.lerpVectors(s.fly.fromCam, s.fly.toCam, e);
      if (t >= 1) s.fly = null;
    }
    controls.update();

    // Labels: hovered, selected, highlighted; nearby ones only when zoomed in (LOD).
    if (now - s.lastLabels > 80) {
      s.lastLabels = now;
      labels.current = collectLabels(sceneGraph, camera, size, distance, ui.selected, ui.hovered);
    }
  });

  // Render by hand, only when the picture changed (on demand), at most animation_fps times
  // a second; then stamp the deltas this frame shows.
  useFrame(() => {
    const s = state.current;
    const now = performance.now();
    const fps = useUi.getState().config.animation_fps || 60;
    if (fps < 60 && now - s.lastRender < 1000 / fps - 2) return;
    if (!s.dirty) return;
    if (s.drawNext) {
      s.drawNext = false;
      return;
    }
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
    gl.info.autoReset = false;
    gl.info.reset();
    gl.render(scene, camera);
    if (ctx instanceof WebGL2RenderingContext) s.fence = ctx.fenceSync(ctx.SYNC_GPU_COMMANDS_COMPLETE, 0);
    s.lastRender = now;
    graph.markRendered(nowMs(), s.shownVersion);
    renderStats.drawCalls = gl.info.render.calls;
    renderStats.triangles = gl.info.render.triangles;
    renderStats.frames += 1;
    if (renderStats.firstFullRender === null && graph.entities.size > 0 && renderStats.viewNodes === graph.entities.size) {
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
  }, 1);

  return (
    <>
      <hemisphereLight args={[0xbfd4ff, 0x101522, 1.4]} />
      <ambientLight intensity={0.35} />
      <directionalLight position={[300, 500, 400]} intensity={1.6} />
      <directionalLight position={[-400, -200, -300]} intensity={0.5} color={0x6d8cff} />
    </>
  );
}

const MAX_NEAR_LABELS = 24;

function collectLabels(
  sg: SceneGraph, camera: THREE.Camera, size: { width: number; height: number }, distance: number,
  selected: string | null, hovered: string | null,
): LabelItem[] {
  const items: LabelItem[] = [];
  const put = (id: string, kind: LabelItem["kind"]) => {
    const shown = sg.view.shownAs.get(id) ?? id;
    const i = sg.index.get(shown);
    if (i === undefined) return;
    const p = new THREE.Vector3(sg.pos[i * 3], sg.pos[i * 3 + 1] + sg.sizes[i] * 1.4, sg.pos[i * 3 + 2]).project(camera);
    if (p.z > 1) return;
    items.push({ id: shown, text: sg.view.nodes[i].entity.name, x: (p.x + 1) / 2 * size.width, y: (1 - p.y) / 2 * size.height, kind });
  };
  if (selected) put(selected, "selected");
  if (hovered && hovered !== selected) put(hovered, "hovered");
  // Zoomed out, labels thin out to none; zoomed in, the nodes nearest the view centre.
  const budget = distance < 120 ? MAX_NEAR_LABELS : distance < 300 ? 10 : distance < 600 ? 4 : 0;
  if (budget) {
    const centre = new THREE.Vector3();
    const candidates: { i: number; d: number }[] = [];
    const v = new THREE.Vector3();
    for (let i = 0; i < sg.view.nodes.length; i++) {
      const id = sg.view.nodes[i].id;
      if (id === selected || id === hovered) continue;
      if (sg.highlight && !sg.highlight.has(id)) continue;
      v.set(sg.pos[i * 3], sg.pos[i * 3 + 1], sg.pos[i * 3 + 2]).project(camera);
      if (v.z > 1 || Math.abs(v.x) > 0.9 || Math.abs(v.y) > 0.9) continue;
      candidates.push({ i, d: v.distanceTo(centre) + v.z });
    }
    candidates.sort((a, b) => a.d - b.d);
    for (const { i } of candidates.slice(0, budget)) put(sg.view.nodes[i].id, "near");
  }
  return items;
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

export function MapCanvas() {
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
        <MapScene labels={labels} />
      </Canvas>
      <Labels items={labels} />
    </div>
  );
}
