// The selection and hover markers: a ring each, facing the camera, breathing slightly, and
// never smaller than a dozen pixels so that the selection shows among thousands of dots.
import * as THREE from "three";
import type { SceneGraph } from "../SceneGraph";

export class MarkerLayer {
  private readonly select: THREE.Mesh;
  private readonly hover: THREE.Mesh;

  constructor(root: THREE.Group) {
    const geometry = new THREE.TorusGeometry(1, 0.06, 6, 48);
    this.select = new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ color: 0xffffff, transparent: true, opacity: 0.95 }));
    this.hover = new THREE.Mesh(geometry, new THREE.MeshBasicMaterial({ color: 0x9cc3ff, transparent: true, opacity: 0.6 }));
    this.select.visible = this.hover.visible = false;
    root.add(this.select, this.hover);
  }

  /** Per frame; whether a marker is shown (and so animates). */
  frame(sg: SceneGraph, camera: THREE.Camera, time: number, projScale: number): boolean {
    place(sg, this.select, sg.selected, camera, time, 1.9, projScale);
    place(sg, this.hover, sg.hovered !== sg.selected ? sg.hovered : null, camera, time, 1.6, projScale);
    return this.select.visible || this.hover.visible;
  }
}

function place(sg: SceneGraph, marker: THREE.Mesh, id: string | null, camera: THREE.Camera, time: number, factor: number, projScale: number): void {
  const i = id ? sg.index.get(id) : undefined;
  marker.visible = i !== undefined;
  if (i === undefined) return;
  marker.position.set(sg.pos[i * 3], sg.pos[i * 3 + 1], sg.pos[i * 3 + 2]);
  marker.quaternion.copy(camera.quaternion);
  const least = (12 * marker.position.distanceTo(camera.getWorldPosition(new THREE.Vector3()))) / Math.max(projScale, 1e-3);
  marker.scale.setScalar(Math.max(sg.sizes[i] * factor, least) * (1 + 0.06 * Math.sin(time * 4)));
}
