// Traffic particles: one Points for all of them, each moved along its edge in the vertex
// shader, so the CPU only rewrites the ends when the layout moves. A budget keeps the
// busiest edges' particles; the camera's distance thins them out (level of detail).
import * as THREE from "three";
import { nextCapacity, upload } from "../buffers";
import { EDGE_STYLES, edgeRate, particleFlow } from "../mapping";
import type { SceneGraph } from "../SceneGraph";
import { particleFragment, particleVertex } from "../shaders";

export class ParticleLayer {
  private readonly points: THREE.Points;
  private readonly material: THREE.ShaderMaterial;
  private particleEdges = new Int32Array(0); // edge index per particle
  private particleCount = 0;

  constructor(root: THREE.Group, private readonly particleBudget: number) {
    this.material = new THREE.ShaderMaterial({
      vertexShader: particleVertex,
      fragmentShader: particleFragment,
      transparent: true,
      depthWrite: false,
      blending: THREE.AdditiveBlending,
      uniforms: { time: { value: 0 }, maxRank: { value: 6 }, pixelScale: { value: 1 } },
    });
    this.points = new THREE.Points(this.geometry(1024), this.material);
    this.points.frustumCulled = false;
    this.points.name = "particles";
    root.add(this.points);
  }

  private geometry(capacity: number): THREE.BufferGeometry {
    const g = new THREE.BufferGeometry();
    const attr = (size: number) => new THREE.BufferAttribute(new Float32Array(capacity * size), size).setUsage(THREE.DynamicDrawUsage);
    g.setAttribute("position", attr(3));
    g.setAttribute("aEnd", attr(3));
    g.setAttribute("aPhase", attr(1));
    g.setAttribute("aSpeed", attr(1));
    g.setAttribute("aRank", attr(1));
    g.setAttribute("aDim", attr(1));
    g.setAttribute("aColor", attr(3));
    g.setDrawRange(0, 0);
    return g;
  }

  /** Which particles, the busiest edges first: each edge's first particle before any second. */
  rebuild(sg: SceneGraph): void {
    // Typed arrays, not an object per edge: this runs on every rebuild and restyle.
    const edges = sg.view.edges;
    const rates = new Float64Array(edges.length);
    const counts = new Uint8Array(edges.length);
    const speeds = new Float32Array(edges.length);
    const flowing: number[] = [];
    for (let i = 0; i < edges.length; i++) {
      const { kind } = edges[i].edge;
      const rate = edgeRate(kind, edges[i].edge);
      const { count, speed } = particleFlow(kind, rate);
      if (count <= 0) continue;
      rates[i] = rate; counts[i] = count; speeds[i] = speed;
      flowing.push(i);
    }
    flowing.sort((a, b) => rates[b] - rates[a]); // stable: equal rates keep view order
    const list: number[] = [];
    const meta: number[] = [];
    const budget = this.particleBudget;
    for (let rank = 0; rank < 6 && list.length < budget; rank++) {
      for (const i of flowing) {
        if (rank >= counts[i]) continue;
        if (list.length >= budget) break;
        list.push(i);
        meta.push(rank / counts[i], speeds[i], rank);
      }
    }
    this.particleCount = list.length;
    this.particleEdges = Int32Array.from(list);
    let g = this.points.geometry;
    if ((g.getAttribute("aPhase") as THREE.BufferAttribute).count < list.length) {
      g.dispose();
      g = this.points.geometry = this.geometry(nextCapacity(list.length));
    }
    const phase = g.getAttribute("aPhase") as THREE.BufferAttribute;
    const speed = g.getAttribute("aSpeed") as THREE.BufferAttribute;
    const rank = g.getAttribute("aRank") as THREE.BufferAttribute;
    const colour = g.getAttribute("aColor") as THREE.BufferAttribute;
    for (let p = 0; p < list.length; p++) {
      const edge = sg.view.edges[list[p]];
      // Spread phases per edge so that particles of neighbouring edges do not march in step.
      const jitter = (edge.id.length * 0.137) % 1;
      phase.array[p] = (meta[p * 3] + jitter) % 1;
      // Fast edges (speed in edge lengths/s) must not blur: shorter edges need no change.
      speed.array[p] = meta[p * 3 + 1];
      rank.array[p] = meta[p * 3 + 2];
      const c = EDGE_STYLES[edge.edge.kind].colour;
      const err = Math.min(1, edge.edge.error_rate ?? 0);
      colour.array[p * 3] = c[0] + (0.95 - c[0]) * err;
      colour.array[p * 3 + 1] = c[1] * (1 - err) + 0.3 * err;
      colour.array[p * 3 + 2] = c[2] * (1 - err) + 0.3 * err;
    }
    for (const a of [phase, speed, rank, colour]) upload(a, list.length);
    g.setDrawRange(0, list.length);
  }

  /** The view's edges were renumbered (`newOf`: old index -> new, -1 gone): particles
   * follow their edges, those of edges gone are hidden until the next rebuild. */
  remap(newOf: Int32Array): void {
    const edges = this.particleEdges;
    for (let q = 0; q < this.particleCount; q++) edges[q] = edges[q] >= 0 && edges[q] < newOf.length ? newOf[edges[q]] : -1;
  }

  get any(): boolean {
    return this.particleEdges.length > 0;
  }

  /** Particle ends from the positions; those of edges left out (`shown` 0) stay hidden. */
  write(sg: SceneGraph, shown: Uint8Array): void {
    const { pos, highlight } = sg;
    const edges = sg.view.edges;
    const g = this.points.geometry;
    const start = g.getAttribute("position").array as Float32Array;
    const end = g.getAttribute("aEnd").array as Float32Array;
    const pdim = g.getAttribute("aDim").array as Float32Array;
    for (let q = 0; q < this.particleCount; q++) {
      const e = this.particleEdges[q];
      if (e < 0) { pdim[q] = 0; continue; } // its edge went: hidden until the next rebuild
      const a = sg.edgeA[e] * 3;
      const b = sg.edgeB[e] * 3;
      start[q * 3] = pos[a]; start[q * 3 + 1] = pos[a + 1]; start[q * 3 + 2] = pos[a + 2];
      end[q * 3] = pos[b]; end[q * 3 + 1] = pos[b + 1]; end[q * 3 + 2] = pos[b + 2];
      // Particles of edges left out by the budget stay hidden.
      pdim[q] = !shown[e] || !sg.placed[sg.edgeA[e]] || !sg.placed[sg.edgeB[e]] ? 0 : highlight ? (highlight.has(edges[e].source) && highlight.has(edges[e].target) ? 1 : 0.08) : 1;
    }
    for (const name of ["position", "aEnd", "aDim"]) upload(g.getAttribute(name) as THREE.BufferAttribute, this.particleCount);
  }

  /** Per frame: the animation clock and level of detail; whether particles are shown. */
  frame(time: number, cameraDistance: number): boolean {
    this.material.uniforms.time.value = time;
    // Level of detail: fewer particles per edge as the camera backs away.
    const maxRank = cameraDistance < 250 ? 6 : cameraDistance < 600 ? 3 : cameraDistance < 1400 ? 1 : 0;
    this.material.uniforms.maxRank.value = maxRank;
    this.points.visible = this.particleCount > 0 && maxRank > 0;
    return this.points.visible;
  }
}
