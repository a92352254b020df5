// Namespace rings too far away to be meshes: a torus only a pixel thick costs a software
// renderer as much as hundreds of glyphs and looks like a circle, so it is drawn as one.
import * as THREE from "three";
import { nextCapacity, upload } from "../buffers";
import { SHAPES } from "../mapping";
import type { SceneGraph } from "../SceneGraph";
import { RING } from "./NodeLayer";

const MAX_SIDES = 48;
const MIN_SIDES = 12;

/** Sides enough for a circle of `radius` px to stray from round by under half a pixel
 * (a side's sagitta, r(1 - cos(pi/n)), is about r pi^2 / 2n^2): a software renderer pays
 * about 1.5 us a line, and 40 rings of 48 sides took 3.2 ms of a 10,000-entity frame. */
export function ringSides(radius: number): number {
  if (!(radius > 0)) return MIN_SIDES;
  return Math.max(MIN_SIDES, Math.min(MAX_SIDES, Math.ceil(Math.PI * Math.sqrt(radius))));
}

export class RingLayer {
  private readonly lines: THREE.LineSegments;

  constructor(root: THREE.Group) {
    this.lines = new THREE.LineSegments(new THREE.BufferGeometry(), new THREE.LineBasicMaterial({ vertexColors: true }));
    this.lines.frustumCulled = false;
    this.lines.name = "rings";
    root.add(this.lines);
  }

  write(sg: SceneGraph): void {
    const ring = SHAPES.indexOf(RING);
    const rings: number[] = [];
    for (let i = 0; i < sg.view.nodes.length; i++) if (sg.shapeOf[i] === ring && !sg.near[i] && sg.placed[i]) rings.push(i);
    // On screen: the entity's pixels per world unit, times the ring's radius.
    const sides = rings.map((i) => ringSides((sg.ringScale[i] * sg.pixels[i]) / (sg.sizes[i] || 1)));
    let g = this.lines.geometry;
    const need = sides.reduce((sum, n) => sum + n * 2, 0);
    if (!g.getAttribute("position") || g.getAttribute("position").count < need) {
      g.dispose();
      const capacity = nextCapacity(need);
      g = this.lines.geometry = new THREE.BufferGeometry();
      g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage));
      g.setAttribute("color", new THREE.BufferAttribute(new Float32Array(capacity * 3), 3).setUsage(THREE.DynamicDrawUsage));
    }
    const p = g.getAttribute("position").array as Float32Array;
    const c = g.getAttribute("color").array as Float32Array;
    const { pos, colours, dims } = sg;
    let v = 0;
    rings.forEach((i, j) => {
      const r = sg.ringScale[i];
      const d = dims[i];
      const n = sides[j];
      for (let k = 0; k < n; k++) {
        for (const step of [k, k + 1]) {
          const a = (step / n) * Math.PI * 2;
          p[v * 3] = pos[i * 3] + Math.cos(a) * r; p[v * 3 + 1] = pos[i * 3 + 1]; p[v * 3 + 2] = pos[i * 3 + 2] + Math.sin(a) * r;
          c[v * 3] = colours[i * 3] * d; c[v * 3 + 1] = colours[i * 3 + 1] * d; c[v * 3 + 2] = colours[i * 3 + 2] * d;
          v++;
        }
      }
    });
    upload(g.getAttribute("position") as THREE.BufferAttribute, v);
    upload(g.getAttribute("color") as THREE.BufferAttribute, v);
    g.setDrawRange(0, v);
    this.lines.visible = v > 0;
  }
}
