// One geometry per shape, about 2 units across; instanced, so their detail is paid per
// entity: kept low (software rendering must cope with 10,000 of them).
import * as THREE from "three";
import type { Shape } from "./mapping";

function star(): THREE.BufferGeometry {
  const shape = new THREE.Shape();
  for (let i = 0; i < 10; i++) {
    const r = i % 2 ? 0.45 : 1.1;
    const a = (i / 10) * Math.PI * 2 + Math.PI / 2;
    if (i === 0) shape.moveTo(Math.cos(a) * r, Math.sin(a) * r);
    else shape.lineTo(Math.cos(a) * r, Math.sin(a) * r);
  }
  const geometry = new THREE.ExtrudeGeometry(shape, { depth: 0.5, bevelEnabled: false });
  geometry.translate(0, 0, -0.25);
  return geometry;
}

export function makeGeometry(shape: Shape): THREE.BufferGeometry {
  switch (shape) {
    // Namespace rings are few but wide, and a software renderer pays per triangle of them
    // however thin: 40 sides still read as round.
    case "torus": return new THREE.TorusGeometry(1, 0.012, 3, 40).rotateX(Math.PI / 2).scale(1, 12, 1);
    case "sphere": return new THREE.IcosahedronGeometry(1, 1);
    case "octahedron": return new THREE.OctahedronGeometry(1.2);
    case "dodecahedron": return new THREE.DodecahedronGeometry(1.1);
    case "cube": return new THREE.BoxGeometry(1.5, 1.5, 1.5);
    case "cone": return new THREE.ConeGeometry(0.95, 1.9, 12);
    case "cylinder": return new THREE.CylinderGeometry(0.9, 0.9, 1.5, 12);
    case "box": return new THREE.BoxGeometry(1.0, 1.8, 1.0);
    case "icosahedron": return new THREE.IcosahedronGeometry(1.1, 0);
    case "tetrahedron": return new THREE.TetrahedronGeometry(1.25);
    case "capsule": return new THREE.CapsuleGeometry(0.55, 0.9, 3, 8);
    case "ring": return new THREE.TorusGeometry(0.95, 0.18, 5, 20);
    case "hexprism": return new THREE.CylinderGeometry(1.15, 1.15, 0.7, 6);
    case "diamond": return new THREE.OctahedronGeometry(1).scale(0.75, 1.6, 0.75);
    case "knot": return new THREE.TorusKnotGeometry(0.7, 0.2, 40, 5);
    case "pyramid": return new THREE.ConeGeometry(1.05, 1.5, 4);
    case "star": return star();
    case "torusSmall": return new THREE.TorusGeometry(0.65, 0.38, 6, 14);
    case "triprism": return new THREE.CylinderGeometry(1.05, 1.05, 1.3, 3);
    case "cubeFlat": return new THREE.BoxGeometry(1.9, 0.55, 1.9);
    case "octaFlat": return new THREE.OctahedronGeometry(1.2).scale(1.2, 0.6, 1.2);
    case "slab": return new THREE.BoxGeometry(1.9, 1.9, 0.5);
    case "pentaprism": return new THREE.CylinderGeometry(1.1, 1.1, 0.8, 5);
    case "sheet": return new THREE.BoxGeometry(1.1, 1.45, 0.22);
  }
}
