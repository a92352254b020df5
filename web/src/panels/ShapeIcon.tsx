// Small 2D pictograms of the 3D shapes, for the legend and lists.
import type { Shape } from "../scene/mapping";

const PATHS: Record<Shape, string> = {
  torus: "M12 5a9 4 0 1 0 .01 0M12 7.5a5.5 2 0 1 0 .01 0",
  sphere: "M12 3a9 9 0 1 0 .01 0Z",
  octahedron: "M12 2 21 12 12 22 3 12Z",
  dodecahedron: "M12 2 21.5 9 18 20.5H6L2.5 9Z",
  cube: "M4 4h16v16H4Z",
  cone: "M12 2 20 18a8 3 0 0 1-16 0Z",
  cylinder: "M5 5a7 2.5 0 0 1 14 0v14a7 2.5 0 0 1-14 0Z",
  box: "M7 2h10v20H7Z",
  icosahedron: "M12 2 20.7 7v10L12 22 3.3 17V7Z",
  tetrahedron: "M12 3 21 19H3Z",
  capsule: "M8 5a4 4 0 0 1 8 0v14a4 4 0 0 1-8 0Z",
  ring: "M12 3a9 9 0 1 0 .01 0M12 7a5 5 0 1 0 .01 0",
  hexprism: "M7 3h10l5 9-5 9H7l-5-9Z",
  diamond: "M12 1 18 12 12 23 6 12Z",
  knot: "M6 8c6-8 12 8 12 8s-6 8-12 0 6-8 12 0",
  pyramid: "M12 3 22 16 14 21 2 17Z",
  star: "M12 2l2.9 6.9L22 9.3l-5.5 4.7 1.7 7.3L12 17.5 5.8 21.3l1.7-7.3L2 9.3l7.1-.4Z",
  torusSmall: "M12 4a8 8 0 1 0 .01 0M12 9.5a2.5 2.5 0 1 0 .01 0",
  triprism: "M2 18 8 6H22L16 18Z",
  cubeFlat: "M2 9h20v6H2Z",
  octaFlat: "M12 6 22 12 12 18 2 12Z",
  slab: "M3 3h18v18H3Z",
  pentaprism: "M12 2 22 9.5 18.5 21h-13L2 9.5Z",
  sheet: "M6 2h8l5 5v15H6Z",
};

// Inner edges, drawn dark over the fill, so that shapes with one outline differ: a cone's
// base, a tetrahedron's and a pyramid's faces, a prism's edge.
const DETAIL: Partial<Record<Shape, string>> = {
  cone: "M4 18a8 3 0 0 0 16 0",
  tetrahedron: "M12 3 14.5 19M12 3 8 14.5 21 19",
  pyramid: "M12 3 14 21M12 3 12 16",
  triprism: "M8 6 16 18",
  dodecahedron: "M12 7 16.5 10.5 15 15.5H9L7.5 10.5Z",
  slab: "M7 3v18",
  sheet: "M14 2v5h5",
};

export function ShapeIcon({ shape, colour = "currentColor", size = 16 }: { shape: Shape; colour?: string; size?: number }) {
  const outline = shape === "knot";
  return (
    <svg width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" className="shape-icon">
      <path d={PATHS[shape]} fill={outline ? "none" : colour} fillRule="evenodd" stroke={colour} strokeWidth={outline ? 2.4 : 0.8} strokeLinejoin="round" />
      {DETAIL[shape] && <path d={DETAIL[shape]} fill="none" stroke="rgba(5, 8, 16, 0.55)" strokeWidth={1.3} strokeLinejoin="round" />}
    </svg>
  );
}
