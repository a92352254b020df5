// What the halos (HaloLayer.ts) and the compare marks (ChangeLayer.ts) share: one Points of
// screen-facing sprites, sized in the vertex shader from the entity's size and the camera
// (projScale, pixelRatio uniforms), drawn over everything, with growable per-point
// attributes of which only the range written is uploaded.
import * as THREE from "three";
import { nextCapacity, upload } from "../buffers";

export interface SpriteLayerSpec {
  name: string;
  vertexShader: string;
  fragmentShader: string;
  /** Blending (halos' soft fill); an opaque layer draws faster in software. */
  transparent: boolean;
  renderOrder: number;
  /** Per-point attributes besides position, by name: their item sizes. */
  attributes: Record<string, number>;
}

export abstract class SpriteLayer {
  count = 0;
  private readonly points: THREE.Points;
  private readonly material: THREE.ShaderMaterial;
  private readonly names: string[];

  constructor(root: THREE.Group, private readonly spec: SpriteLayerSpec) {
    this.names = ["position", ...Object.keys(spec.attributes)];
    this.material = new THREE.ShaderMaterial({
      vertexShader: spec.vertexShader,
      fragmentShader: spec.fragmentShader,
      transparent: spec.transparent,
      depthTest: false,
      depthWrite: false,
      uniforms: { projScale: { value: 1 }, pixelRatio: { value: 1 } },
    });
    this.points = new THREE.Points(this.geometry(64), this.material);
    this.points.frustumCulled = false;
    this.points.renderOrder = spec.renderOrder;
    this.points.name = spec.name;
    this.points.visible = false;
    root.add(this.points);
  }

  private geometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const sizes: Record<string, number> = { position: 3, ...this.spec.attributes };
    for (const name of this.names) {
      g.setAttribute(name, new THREE.BufferAttribute(new Float32Array(capacity * sizes[name]), sizes[name]).setUsage(THREE.DynamicDrawUsage));
    }
    g.setDrawRange(0, 0);
    return g;
  }

  /** The attributes' arrays, by name, with room for `count` points. */
  protected arrays(count: number): Record<string, Float32Array> {
    let g = this.points.geometry;
    if (g.getAttribute("position").count < count) {
      g.dispose();
      g = this.points.geometry = this.geometry(nextCapacity(count));
    }
    return Object.fromEntries(this.names.map((name) => [name, g.getAttribute(name).array as Float32Array]));
  }

  /** Uploads the first `count` points written and draws them (none: hidden). */
  protected commit(count: number): void {
    const g = this.points.geometry;
    for (const name of this.names) upload(g.getAttribute(name) as THREE.BufferAttribute, count);
    g.setDrawRange(0, count);
    this.count = count;
    this.points.visible = count > 0;
  }

  /** Sprites do not animate: nothing here asks for frames. */
  frame(projScale: number, pixelRatio: number): void {
    this.material.uniforms.projScale.value = projScale;
    this.material.uniforms.pixelRatio.value = pixelRatio;
  }
}
