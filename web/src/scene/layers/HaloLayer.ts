// Halos: a ring around every critical (red) and warning (amber) entity, drawn unlit in
// exactly the legend's colour, over everything else and never smaller than a couple of
// dozen pixels, so that at overview, where healthy entities are dots, problems are the
// first thing one sees. One Points for all of them (SpriteLayer.ts); a tiny entity gets a solid dot inside.
import type * as THREE from "three";
import type { SceneGraph } from "../SceneGraph";
import { SpriteLayer } from "./SpriteLayer";

/** On-screen diameters at least, px: critical, warning. */
export const HALO_PIXELS = { critical: 30, warning: 20 };
/** More than this many halos is noise (and fill-rate): the criticals first. */
const MAX_HALOS = 600;

const vertex = /* glsl */ `
uniform float projScale;
uniform float pixelRatio;
attribute vec3 aColor;
attribute float aSize;
attribute float aLevel; // 2 critical, 1 warning
varying vec3 vColor;
varying float vLevel;
varying float vSmall;
void main() {
  vec4 mv = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mv;
  float px = 2.0 * aSize * projScale / max(-mv.z, 0.001); // the entity's diameter
  float least = (aLevel > 1.5 ? ${HALO_PIXELS.critical.toFixed(1)} : ${HALO_PIXELS.warning.toFixed(1)}) * pixelRatio;
  gl_PointSize = max(px * 1.8, least);
  vSmall = px < least * 0.4 ? 1.0 : 0.0;
  vColor = aColor;
  vLevel = aLevel;
}`;

// The ring and the dot are opaque: their pixels are the legend's colour exactly (the
// canvas is sRGB and this shader does no tone mapping or colour-space conversion).
const fragment = /* glsl */ `
varying vec3 vColor;
varying float vLevel;
varying float vSmall;
void main() {
  float d = length(gl_PointCoord - 0.5) * 2.0;
  if (d > 1.0) discard;
  float inner = vLevel > 1.5 ? 0.72 : 0.78;
  if (d > inner || (vSmall > 0.5 && d < 0.34)) { gl_FragColor = vec4(vColor, 1.0); return; }
  if (vLevel > 1.5) { gl_FragColor = vec4(vColor, 0.16 * (1.0 - d)); return; }
  discard;
}`;

export class HaloLayer extends SpriteLayer {
  constructor(root: THREE.Group) {
    super(root, {
      name: "halos", vertexShader: vertex, fragmentShader: fragment, transparent: true, renderOrder: 10,
      attributes: { aColor: 3, aSize: 1, aLevel: 1 },
    });
  }

  write(sg: SceneGraph): void {
    const order: number[] = [];
    for (const level of [2, 1]) {
      for (let i = 0; i < sg.view.nodes.length && order.length < MAX_HALOS; i++) if (sg.level[i] === level && sg.placed[i]) order.push(i);
    }
    const { position: p, aColor: c, aSize: size, aLevel: level } = this.arrays(order.length);
    order.forEach((i, k) => {
      p[k * 3] = sg.pos[i * 3]; p[k * 3 + 1] = sg.pos[i * 3 + 1]; p[k * 3 + 2] = sg.pos[i * 3 + 2];
      // Path tracing dims what it leaves out: halos too, but they stay visible.
      const d = sg.dims[i] < 1 ? 0.45 : 1;
      c[k * 3] = sg.colours[i * 3] * d; c[k * 3 + 1] = sg.colours[i * 3 + 1] * d; c[k * 3 + 2] = sg.colours[i * 3 + 2] * d;
      size[k] = sg.sizes[i];
      level[k] = sg.level[i];
    });
    this.commit(order.length);
  }
}
