// Entities: one InstancedMesh per shape for those near the camera (large on screen), one
// Points for all the others, each drawn as its shape's picture (glyphs.ts); removed
// entities shrink away where they were. Buffers are written only in the range used.
import * as THREE from "three";
import type { Entity } from "../../api/types";
import { nextCapacity, upload, writeMatrix } from "../buffers";
import { makeGeometry } from "../geometries";
import { type GlyphAtlas, glyphFragment, glyphVertex, renderGlyphAtlas } from "../glyphs";
import { SHAPES, type Shape, kindStyle } from "../mapping";
import type { SceneGraph } from "../SceneGraph";

const FADE_MS = 700;
export const RING: Shape = "torus"; // namespace rings: meshes, or far away circles of lines

/**
 * How meshes are lit. A software renderer pays per covered pixel, and the physically based
 * material is its most expensive: measured in SwiftShader at 10,000 entities with the
 * camera close (144 meshes over 370,000 px), meshes alone took 130-200 ms a frame as
 * "standard" and 70-100 ms as "lambert" (diffuse only, the same lights and colours).
 */
export type Shading = "standard" | "lambert";

interface ShapeBatch {
  mesh: THREE.InstancedMesh;
  capacity: number;
  nodes: number[]; // view node indices of this shape
}

interface Fading {
  shape: Shape;
  x: number; y: number; z: number;
  size: number;
  start: number;
}

export class NodeLayer {
  /** Triangles of each shape (index into SHAPES), for the level-of-detail budget. */
  readonly triangles: number[] = [];
  meshCount = 0;
  glyphCount = 0;
  private readonly material: THREE.MeshStandardMaterial | THREE.MeshLambertMaterial;
  private readonly shapes = new Map<Shape, ShapeBatch>();
  private readonly glyphs: THREE.Points;
  private readonly glyphMaterial: THREE.ShaderMaterial;
  private atlas: GlyphAtlas | null = null;
  private fading: Fading[] = [];

  constructor(private readonly root: THREE.Group, shading: Shading = "standard") {
    this.material = shading === "lambert"
      ? new THREE.MeshLambertMaterial({ emissive: 0x0b1220 })
      : new THREE.MeshStandardMaterial({ roughness: 0.42, metalness: 0.15, emissive: 0x0b1220 });
    for (const shape of SHAPES) {
      const geometry = makeGeometry(shape);
      this.triangles.push((geometry.index?.count ?? geometry.getAttribute("position").count) / 3);
      const mesh = this.instancedMesh(geometry, 64, `shape:${shape}`);
      this.shapes.set(shape, { mesh, capacity: 64, nodes: [] });
      root.add(mesh);
    }
    this.glyphMaterial = new THREE.ShaderMaterial({
      vertexShader: glyphVertex,
      fragmentShader: glyphFragment,
      fog: true,
      uniforms: THREE.UniformsUtils.merge([THREE.UniformsLib.fog, {
        atlas: { value: null }, grid: { value: new THREE.Vector2(1, 1) }, dotLight: { value: new THREE.Color(1, 1, 1) },
        projScale: { value: 1 }, time: { value: 0 },
      }]),
    });
    this.glyphs = new THREE.Points(this.glyphGeometry(64), this.glyphMaterial);
    this.glyphs.frustumCulled = false;
    this.glyphs.name = "glyphs";
    this.glyphs.visible = false;
    root.add(this.glyphs);
  }

  /** Draws the glyph atlas with the page's renderer (once, before the first frame). */
  prepare(renderer: THREE.WebGLRenderer): void {
    if (this.atlas) return;
    this.atlas = renderGlyphAtlas(renderer, SHAPES.filter((s) => s !== RING), this.material);
    const u = this.glyphMaterial.uniforms;
    u.atlas.value = this.atlas.texture;
    u.grid.value.set(this.atlas.columns, this.atlas.rows);
    u.dotLight.value = this.atlas.dotLight;
  }

  private instancedMesh(geometry: THREE.BufferGeometry, capacity: number, name: string): THREE.InstancedMesh {
    const mesh = new THREE.InstancedMesh(geometry, this.material, capacity);
    mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage);
    mesh.instanceColor = new THREE.InstancedBufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage);
    mesh.count = 0;
    mesh.visible = false;
    mesh.frustumCulled = false;
    mesh.name = name;
    return mesh;
  }

  private glyphGeometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const attr = (size: number) => new THREE.BufferAttribute(new Float32Array(capacity * size), size).setUsage(THREE.DynamicDrawUsage);
    g.setAttribute("position", attr(3));
    g.setAttribute("aColor", attr(3));
    g.setAttribute("aSize", attr(1));
    g.setAttribute("aExtent", attr(1));
    g.setAttribute("aGlyph", attr(1));
    g.setAttribute("aPulse", attr(1));
    g.setDrawRange(0, 0);
    return g;
  }

  /** Removed entities fade out where they were. */
  fadeOut(entity: Entity, size: number, x: number, y: number, z: number, now: number): void {
    this.fading.push({ shape: kindStyle(entity.kind).shape, size, x, y, z, start: now });
  }

  /** Regroup instances by shape for a new view; grow buffers that are too small. */
  setView(sg: SceneGraph): void {
    for (const batch of this.shapes.values()) batch.nodes = [];
    const byShape = SHAPES.map((shape) => this.shapes.get(shape)!.nodes);
    for (let i = 0; i < sg.view.nodes.length; i++) byShape[sg.shapeOf[i]].push(i);
    const fadingByShape = new Map<Shape, number>();
    for (const f of this.fading) fadingByShape.set(f.shape, (fadingByShape.get(f.shape) ?? 0) + 1);
    for (const [shape, batch] of this.shapes) {
      // Only near nodes are meshes, but any of them may be near.
      const need = batch.nodes.length + (fadingByShape.get(shape) ?? 0);
      if (need <= batch.capacity) continue;
      const capacity = nextCapacity(need);
      const old = batch.mesh;
      const mesh = this.instancedMesh(old.geometry, capacity, old.name);
      this.root.remove(old);
      old.dispose();
      this.root.add(mesh);
      batch.mesh = mesh;
      batch.capacity = capacity;
    }
    const n = sg.view.nodes.length;
    if ((this.glyphs.geometry.getAttribute("aSize") as THREE.BufferAttribute).count < n) {
      this.glyphs.geometry.dispose();
      this.glyphs.geometry = this.glyphGeometry(nextCapacity(n));
    }
  }

  /** Drops finished fades; returns whether any fade ran before or after (so frames must be drawn). */
  fadesRunning(now: number): boolean {
    const before = this.fading.length;
    this.fading = this.fading.filter((f) => now - f.start < FADE_MS);
    return before > 0 || this.fading.length > 0;
  }

  writeGlyphs(sg: SceneGraph): void {
    const g = this.glyphs.geometry;
    const p = g.getAttribute("position").array as Float32Array;
    const c = g.getAttribute("aColor").array as Float32Array;
    const size = g.getAttribute("aSize").array as Float32Array;
    const glyph = g.getAttribute("aGlyph").array as Float32Array;
    const pulse = g.getAttribute("aPulse").array as Float32Array;
    const extent = g.getAttribute("aExtent").array as Float32Array;
    const cells = this.atlas?.cells;
    const cellOf = SHAPES.map((s) => cells?.get(s) ?? 0);
    const extentOf = SHAPES.map((s) => this.atlas?.extents.get(s) ?? 1);
    const { pos, screen: sc, colours, dims } = sg;
    const ring = SHAPES.indexOf(RING);
    let k = 0;
    for (let i = 0; i < sg.view.nodes.length; i++) {
      // Not placed by the layout yet: it would be drawn at the origin (see SceneGraph.placed).
      if (sg.near[i] || sg.shapeOf[i] === ring || !sg.placed[i]) continue;
      // Off screen (zoomed in): not sent at all, since each point costs its setup anyway.
      const margin = 4 * sg.pixels[i] + 8;
      if (!(Math.abs(sc[i * 2]) < sg.halfWidth + margin && Math.abs(sc[i * 2 + 1]) < sg.halfHeight + margin)) continue;
      p[k * 3] = pos[i * 3]; p[k * 3 + 1] = pos[i * 3 + 1]; p[k * 3 + 2] = pos[i * 3 + 2];
      const d = dims[i];
      c[k * 3] = colours[i * 3] * d; c[k * 3 + 1] = colours[i * 3 + 1] * d; c[k * 3 + 2] = colours[i * 3 + 2] * d;
      size[k] = sg.sizes[i];
      extent[k] = extentOf[sg.shapeOf[i]];
      glyph[k] = cellOf[sg.shapeOf[i]];
      pulse[k] = sg.flags[i] & 1 ? 1 + (i % 97) / 97 : 0;
      k++;
    }
    for (const name of ["position", "aColor", "aSize", "aExtent", "aGlyph", "aPulse"]) upload(g.getAttribute(name) as THREE.BufferAttribute, k);
    g.setDrawRange(0, k);
    this.glyphs.visible = k > 0 && this.atlas !== null;
    this.glyphCount = k;
  }

  writeMeshes(sg: SceneGraph, time: number, fadeNow: number): void {
    const { pos, colours, dims } = sg;
    let total = 0;
    for (const [shape, batch] of this.shapes) {
      const m = batch.mesh.instanceMatrix.array as Float32Array;
      const c = batch.mesh.instanceColor!.array as Float32Array;
      let k = 0;
      for (const i of batch.nodes) {
        if (!sg.near[i] || !sg.placed[i]) continue;
        const ring = sg.ringScale[i] || undefined;
        let s = ring ?? sg.sizes[i];
        let angle = 0;
        const flags = sg.flags[i];
        if (flags & 1) s *= 1 + 0.18 * Math.sin(time * 5 + i);
        if (flags & 2) angle = time * 1.5;
        // Rings grow wide, not thick: y keeps the entity scale.
        writeMatrix(m, k, pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2], s, angle, ring !== undefined ? sg.base : s);
        const d = dims[i];
        c[k * 3] = colours[i * 3] * d; c[k * 3 + 1] = colours[i * 3 + 1] * d; c[k * 3 + 2] = colours[i * 3 + 2] * d;
        k++;
      }
      for (const f of this.fading) {
        if (f.shape !== shape) continue;
        const t = Math.min(1, (fadeNow - f.start) / FADE_MS);
        writeMatrix(m, k, f.x, f.y, f.z, f.size * (1 - t), 0);
        c[k * 3] = c[k * 3 + 1] = c[k * 3 + 2] = 0.5 * (1 - t);
        k++;
      }
      batch.mesh.count = k;
      batch.mesh.visible = k > 0;
      if (k) {
        upload(batch.mesh.instanceMatrix, k);
        upload(batch.mesh.instanceColor!, k);
      }
      total += k;
    }
    this.meshCount = total;
  }

  frame(time: number, projScale: number): void {
    this.glyphMaterial.uniforms.time.value = time;
    this.glyphMaterial.uniforms.projScale.value = projScale;
  }

  get glyphsVisible(): boolean {
    return this.glyphs.visible;
  }
}
