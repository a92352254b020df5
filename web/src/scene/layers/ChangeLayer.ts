// Compare marks (state/compare.ts): around each entity that was added, changed or removed
// between two moments, a frame whose shape says which (square, diamond, dashed circle),
// drawn unlit in the legend's exact colour, over everything and never smaller than a few
// dozen pixels, like the health halos but never round and solid, so the two read apart.
// One Points for all of them (SpriteLayer.ts).
import type * as THREE from "three";
import { CHANGES, CHANGE_COLOURS, type Change } from "../../state/compare";
import type { SceneGraph } from "../SceneGraph";
import { SpriteLayer } from "./SpriteLayer";

/** On-screen size at least, px. */
export const CHANGE_PIXELS = 34;
const MAX_MARKS = 2000;

const vertex = /* glsl */ `
uniform float projScale;
uniform float pixelRatio;
attribute vec3 aColor;
attribute float aSize;
attribute float aKind; // 0 added, 1 changed, 2 removed
varying vec3 vColor;
varying float vKind;
void main() {
  vec4 mv = modelViewMatrix * vec4(position, 1.0);
  gl_Position = projectionMatrix * mv;
  float px = 2.0 * aSize * projScale / max(-mv.z, 0.001);
  gl_PointSize = max(px * 2.2, ${CHANGE_PIXELS.toFixed(1)} * pixelRatio);
  vColor = aColor;
  vKind = aKind;
}`;

// Thick enough (a fifth of the mark) to be seen and found at any size.
const fragment = /* glsl */ `
varying vec3 vColor;
varying float vKind;
void main() {
  vec2 p = (gl_PointCoord - 0.5) * 2.0;
  float d;
  if (vKind < 0.5) d = max(abs(p.x), abs(p.y));
  else if (vKind < 1.5) d = abs(p.x) + abs(p.y);
  else {
    d = length(p);
    float a = atan(p.y, p.x);
    if (mod(floor((a + 3.14159265) / (3.14159265 / 6.0)), 2.0) > 0.5) discard;
  }
  if (d > 1.0 || d < 0.8) discard;
  gl_FragColor = vec4(vColor, 1.0);
}`;

export class ChangeLayer extends SpriteLayer {
  /** What was marked last, by view node id (for tests). */
  marked: { id: string; change: Change }[] = [];

  constructor(root: THREE.Group) {
    super(root, {
      name: "changes", vertexShader: vertex, fragmentShader: fragment, transparent: false, renderOrder: 11,
      attributes: { aColor: 3, aSize: 1, aKind: 1 },
    });
  }

  write(sg: SceneGraph): void {
    const marks = new Map<number, Change>();
    if (sg.changes) {
      for (const [id, change] of sg.changes) {
        const i = sg.index.get(sg.view.shownAs.get(id) ?? id);
        if (i === undefined || marks.size >= MAX_MARKS) continue;
        // A folded group holding several: the first mark wins (added, changed, removed).
        const had = marks.get(i);
        if (had === undefined || CHANGES.indexOf(change) < CHANGES.indexOf(had)) marks.set(i, change);
      }
    }
    const { position: p, aColor: c, aSize: size, aKind: kind } = this.arrays(marks.size);
    this.marked = [];
    let k = 0;
    for (const [i, change] of marks) {
      p[k * 3] = sg.pos[i * 3]; p[k * 3 + 1] = sg.pos[i * 3 + 1]; p[k * 3 + 2] = sg.pos[i * 3 + 2];
      c.set(CHANGE_COLOURS[change], k * 3);
      size[k] = sg.sizes[i];
      kind[k] = CHANGES.indexOf(change);
      this.marked.push({ id: sg.view.nodes[i].id, change });
      k++;
    }
    this.commit(k);
  }
}
