// Far-away entities are drawn as point sprites (one draw call for all of them) showing
// their kind's shape: each shape's mesh is rendered once, lit and white, into a cell of an
// atlas texture, and the point shader tints that picture with the entity's colour. Up close
// the real meshes take over; far away the two look alike, and a software renderer draws a
// few pixels per entity instead of its triangles.
import * as THREE from "three";
import { makeGeometry } from "./geometries";
import type { Shape } from "./mapping";

const CELL = 64;

export interface GlyphAtlas {
  texture: THREE.Texture;
  columns: number;
  rows: number;
  /** Shape -> cell number. */
  cells: Map<Shape, number>;
  /** Shape -> half the width of its cell in geometry units (its farthest vertex): the
   * sprite is as tight as the shape, since a software renderer pays for every pixel. */
  extents: Map<Shape, number>;
}

function extentOf(geometry: THREE.BufferGeometry): number {
  const p = geometry.getAttribute("position");
  let r = 0;
  for (let i = 0; i < p.count; i++) r = Math.max(r, Math.hypot(p.getX(i), p.getY(i), p.getZ(i)));
  return r * 1.04;
}

/** Lights as the map's (MapCanvas), so that a glyph and its mesh are shaded alike. */
function addLights(scene: THREE.Scene): void {
  scene.add(new THREE.HemisphereLight(0xbfd4ff, 0x101522, 1.4));
  scene.add(new THREE.AmbientLight(0xffffff, 0.35));
  const key = new THREE.DirectionalLight(0xffffff, 1.6);
  key.position.set(300, 500, 400);
  const fill = new THREE.DirectionalLight(0x6d8cff, 0.5);
  fill.position.set(-400, -200, -300);
  scene.add(key, fill);
}

export function renderGlyphAtlas(renderer: THREE.WebGLRenderer, shapes: Shape[], material: THREE.Material): GlyphAtlas {
  const columns = Math.ceil(Math.sqrt(shapes.length));
  const rows = Math.ceil(shapes.length / columns);
  const target = new THREE.WebGLRenderTarget(columns * CELL, rows * CELL, {
    minFilter: THREE.LinearFilter, magFilter: THREE.LinearFilter, generateMipmaps: false, depthBuffer: true,
  });
  const scene = new THREE.Scene();
  addLights(scene);
  const camera = new THREE.OrthographicCamera(-1, 1, 1, -1, 0.1, 100);
  // Seen from the map's default camera direction.
  camera.position.set(0, 140, 360).setLength(20);
  camera.lookAt(0, 0, 0);
  const mesh = new THREE.Mesh(undefined, material);
  scene.add(mesh);

  const saved = { target: renderer.getRenderTarget(), autoClear: renderer.autoClear, alpha: renderer.getClearAlpha() };
  const clearColour = renderer.getClearColor(new THREE.Color());
  renderer.autoClear = false;
  renderer.setRenderTarget(target);
  renderer.setClearColor(0x000000, 0);
  renderer.clear();
  const cells = new Map<Shape, number>();
  const extents = new Map<Shape, number>();
  shapes.forEach((shape, i) => {
    mesh.geometry = makeGeometry(shape);
    const e = extentOf(mesh.geometry);
    extents.set(shape, e);
    camera.left = camera.bottom = -e;
    camera.right = camera.top = e;
    camera.updateProjectionMatrix();
    target.viewport.set((i % columns) * CELL, Math.floor(i / columns) * CELL, CELL, CELL);
    renderer.setRenderTarget(target);
    renderer.render(scene, camera);
    mesh.geometry.dispose();
    cells.set(shape, i);
  });
  renderer.setRenderTarget(saved.target);
  renderer.setClearColor(clearColour, saved.alpha);
  renderer.autoClear = saved.autoClear;
  return { texture: target.texture, columns, rows, cells, extents };
}

export const glyphVertex = /* glsl */ `
#include <common>
#include <fog_pars_vertex>
uniform float projScale;
uniform float time;
attribute vec3 aColor;
attribute float aSize;
attribute float aExtent;
attribute float aGlyph;
attribute float aPulse;
varying vec3 vColor;
varying float vGlyph;
varying float vDot;
void main() {
  // Unhealthy entities pulse here too (aPulse: 0, or 1 + a phase), without CPU writes.
  float s = aSize * (aPulse > 0.5 ? 1.0 + 0.18 * sin(time * 5.0 + aPulse * 97.0) : 1.0);
  vec4 mvPosition = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mvPosition;
  float px = 2.0 * s * projScale / max(-mvPosition.z, 0.001); // the entity's diameter
  // Below a few pixels a shape is unreadable: draw a shaded dot (a sphere) instead.
  vDot = px < 7.0 ? 1.0 : 0.0;
  gl_PointSize = vDot > 0.5 ? max(px, 2.0) : px * aExtent;
  vColor = aColor;
  vGlyph = aGlyph;
  #include <fog_vertex>
}`;

export const glyphFragment = /* glsl */ `
#include <common>
#include <fog_pars_fragment>
uniform sampler2D atlas;
uniform vec2 grid;
uniform float dotCell; // the sphere's cell
varying vec3 vColor;
varying float vGlyph;
varying float vDot;
void main() {
  vec2 pc = vec2(gl_PointCoord.x, 1.0 - gl_PointCoord.y);
  float glyph = vDot > 0.5 ? dotCell : vGlyph;
  vec2 cell = vec2(mod(glyph, grid.x), floor(glyph / grid.x));
  vec4 t = texture2D(atlas, (cell + pc) / grid);
  if (t.a < 0.5) discard;
  gl_FragColor = vec4(t.rgb / t.a * vColor, 1.0);
  #include <tonemapping_fragment>
  #include <colorspace_fragment>
  #include <fog_fragment>
}`;
