// Small 2D pictograms of the 3D shapes, for the legend and lists.
import type { Shape } from "../scene/mapping";

const PATHS: Record<Shape, string> = {
  torus: "M12 5a9 4 0 1 0 .01 0M12 7.5a5.5 2 0 1 0 .01 0",
  sphere: "M12 3a9 9 0 1 0 .01 0Z",
  octahedron: "M12 2 21 12 12 22 3 12Z",
  dodecahedron: "M12 2 21.5 9 18 20.5H6L2.5 9Z",
  cube: "M4 4h16v16H4Z",
  cone: "M12 2 20 20H4Z",
  cylinder: "M5 5a7 2.5 0 0 1 14 0v14a7 2.5 0 0 1-14 0Z",
  box: "M7 2h10v20H7Z",
  icosahedron: "M12 2 20.7 7v10L12 22 3.3 17V7Z",
  tetrahedron: "M12 3 21 19H3Z",
  capsule: "M8 5a4 4 0 0 1 8 0v14a4 4 0 0 1-8 0Z",
  ring: "M12 3a9 9 0 1 0 .01 0M12 7a5 5 0 1 0 .01 0",
  hexprism: "M7 3h10l5 9-5 9H7l-5-9Z",
  diamond: "M12 1 18 12 12 23 6 12Z",
  knot: "M6 8c6-8 12 8 12 8s-6 8-12 0 6-8 12 0",
  pyramid: "M12 3 21 20H3Z M12 3 12 20",
  star: "M12 2l2.9 6.9L22 9.3l-5.5 4.7 1.7 7.3L12 17.5 5.8 21.3l1.7-7.3L2 9.3l7.1-.4Z",
  torusSmall: "M12 4a8 8 0 1 0 .01 0M12 9.5a2.5 2.5 0 1 0 .01 0",
  triprism: "M12 3 21 19H3Z",
  cubeFlat: "M2 9h20v6H2Z",
  octaFlat: "M12 6 22 12 12 18 2 12Z",
};

export function ShapeIcon({ shape, colour = "currentColor", size = 16 }: { shape: Shape; colour?: string; size?: number }) {
  const outline = shape === "knot";
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" className="shape-icon">
      <path d={PATHS[shape]} fill={outline ? "none" : colour} fillRule="evenodd" stroke={colour} strokeWidth={outline ? 2.4 : 0.8} strokeLinejoin="round" />
    </svg>
  );
}
