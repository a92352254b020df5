// Far-away entities are drawn as point sprites (one draw call for all of them) showing
// their kind's shape: each shape's mesh is rendered once, lit and white, into a cell of an
// atlas texture, and the point shader tints that picture with the entity's colour. Up close
// the real meshes take over; far away the two look alike, and a software renderer draws a
// few pixels per entity instead of its triangles. The entity's colour goes through tone
// mapping, sRGB and fog once per point, and the atlas holds each texel's shading as a
// factor on that output colour: a pixel costs one texture read and one multiply.
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
  /** A lit white sphere's mean colour, linear: an entity's colour is lit by it. */
  dotLight: THREE.Color;
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

/** As the page's output: ACES filmic tone mapping (react-three-fiber's default), then sRGB. */
export function outputColour(rgb: [number, number, number]): [number, number, number] {
  const [r, g, b] = rgb.map((c) => c / 0.6);
  const i = [
    0.59719 * r + 0.35458 * g + 0.04823 * b,
    0.076 * r + 0.90834 * g + 0.01566 * b,
    0.0284 * r + 0.13383 * g + 0.83777 * b,
  ].map((v) => (v * (v + 0.0245786) - 0.000090537) / (v * (0.983729 * v + 0.432951) + 0.238081));
  const o = [
    1.60475 * i[0] - 0.53108 * i[1] - 0.07367 * i[2],
    -0.10208 * i[0] + 1.10813 * i[1] - 0.00605 * i[2],
    -0.00327 * i[0] - 0.07276 * i[1] + 1.07602 * i[2],
  ].map((v) => Math.min(1, Math.max(0, v)));
  return o.map((c) => (c <= 0.0031308 ? c * 12.92 : 1.055 * c ** 0.41666 - 0.055)) as [number, number, number];
}

/**
 * The rendered atlas as shading factors: each texel's output colour over the output colour
 * of the sphere's mean light (halved, so that highlights up to twice as bright fit).
 */
function shadingTexture(pixels: Uint8Array, width: number, height: number, sphereCell: number, columns: number): { texture: THREE.DataTexture; light: THREE.Color } {
  const sum = [0, 0, 0];
  let n = 0;
  const x0 = (sphereCell % columns) * CELL, y0 = Math.floor(sphereCell / columns) * CELL;
  for (let y = y0; y < y0 + CELL; y++) {
    for (let x = x0; x < x0 + CELL; x++) {
      const o = (y * width + x) * 4;
      if (pixels[o + 3] < 128) continue;
      for (let k = 0; k < 3; k++) sum[k] += pixels[o + k] / 255;
      n += 1;
    }
  }
  const light: [number, number, number] = n ? [sum[0] / n, sum[1] / n, sum[2] / n] : [1, 1, 1];
  const reference = outputColour(light);
  const out = new Uint8Array(pixels.length);
  for (let o = 0; o < pixels.length; o += 4) {
    if (pixels[o + 3] < 128) continue;
    const shade = outputColour([pixels[o] / 255, pixels[o + 1] / 255, pixels[o + 2] / 255]);
    for (let k = 0; k < 3; k++) out[o + k] = Math.min(255, Math.round((shade[k] / Math.max(reference[k], 1e-3) / 2) * 255));
    out[o + 3] = 255;
  }
  const texture = new THREE.DataTexture(out, width, height, THREE.RGBAFormat);
  texture.magFilter = texture.minFilter = THREE.LinearFilter;
  texture.needsUpdate = true;
  return { texture, light: new THREE.Color(...light) };
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
  const pixels = new Uint8Array(target.width * target.height * 4);
  renderer.readRenderTargetPixels(target, 0, 0, target.width, target.height, pixels);
  renderer.setRenderTarget(saved.target);
  target.dispose();
  const { texture, light } = shadingTexture(pixels, columns * CELL, rows * CELL, cells.get("sphere") ?? 0, columns);
  renderer.setClearColor(clearColour, saved.alpha);
  renderer.autoClear = saved.autoClear;
  return { texture, columns, rows, cells, extents, dotLight: light };
}

export const glyphVertex = /* glsl */ `
uniform float projScale;
uniform float time;
uniform vec3 dotLight;
uniform vec3 fogColor;
uniform float fogDensity;
attribute vec3 aColor;
attribute float aSize;
attribute float aExtent;
attribute float aGlyph;
attribute float aPulse;
varying vec3 vColor;
varying float vGlyph;
varying float vDot;

vec3 acesFit(vec3 v) {
  vec3 a = v * (v + 0.0245786) - 0.000090537;
  vec3 b = v * (0.983729 * v + 0.4329510) + 0.238081;
  return a / b;
}
// outputColour() of glyphs.ts.
vec3 outputColour(vec3 linear) {
  const mat3 acesIn = mat3(vec3(0.59719, 0.07600, 0.02840), vec3(0.35458, 0.90834, 0.13383), vec3(0.04823, 0.01566, 0.83777));
  const mat3 acesOut = mat3(vec3(1.60475, -0.10208, -0.00327), vec3(-0.53108, 1.10813, -0.07276), vec3(-0.07367, -0.00605, 1.07602));
  vec3 c = clamp(acesOut * acesFit(acesIn * (linear / 0.6)), 0.0, 1.0);
  return mix(pow(c, vec3(0.41666)) * 1.055 - vec3(0.055), c * 12.92, vec3(lessThanEqual(c, vec3(0.0031308))));
}

void main() {
  // Unhealthy entities pulse here too (aPulse: 0, or 1 + a phase), without CPU writes.
  float s = aSize * (aPulse > 0.5 ? 1.0 + 0.18 * sin(time * 5.0 + aPulse * 97.0) : 1.0);
  vec4 mvPosition = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mvPosition;
  float px = 2.0 * s * projScale / max(-mvPosition.z, 0.001); // the entity's diameter
  // Below a few pixels a shape is unreadable: a shaded dot (a sphere) instead.
  bool dot = px < 7.0;
  gl_PointSize = dot ? max(px, 2.0) : px * aExtent;
  vGlyph = aGlyph;
  vDot = dot ? 1.0 : 0.0;
  float fogFactor = 1.0 - exp(-fogDensity * fogDensity * mvPosition.z * mvPosition.z);
  vColor = mix(outputColour(aColor * dotLight), fogColor, fogFactor);
}`;

export const glyphFragment = /* glsl */ `
uniform sampler2D atlas;
uniform vec2 grid;
varying vec3 vColor;
varying float vGlyph;
varying float vDot;
void main() {
  // A dot is shaded here, without reading the atlas: at overview nearly every point is one,
  // and in a software renderer the texture read was most of a point's cost (10,000 points
  // in SwiftShader: 17 ms textured, 13 ms so). Lit from above like the atlas's sphere,
  // darker to the rim; the factor averages 1 over the disc, as the sphere's cell does.
  if (vDot > 0.5) {
    vec2 q = gl_PointCoord - 0.5;
    float r = dot(q, q);
    if (r > 0.25) discard;
    gl_FragColor = vec4(vColor * (1.1 - 0.8 * r - 0.5 * q.y), 1.0);
    return;
  }
  vec2 cell = vec2(mod(vGlyph, grid.x), floor(vGlyph / grid.x));
  vec4 t = texture2D(atlas, (cell + vec2(gl_PointCoord.x, 1.0 - gl_PointCoord.y)) / grid);
  if (t.a < 0.5) discard;
  gl_FragColor = vec4(vColor * t.rgb * 2.0, 1.0);
}`;
