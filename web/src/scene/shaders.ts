// Edges: one LineSegments per style; dashes and the volume pulse are drawn in the fragment
// shader from the distance along the edge. Particles: one Points for all traffic, each
// particle moved along its edge in the vertex shader, so the CPU only rewrites ends.
export const edgeVertex = /* glsl */ `
attribute float aDist;
attribute float aDim;
varying float vDist;
varying float vDim;
void main() {
  vDist = aDist;
  vDim = aDim;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}`;

export const edgeFragment = /* glsl */ `
uniform vec3 color;
uniform float opacity;
uniform float dashed;
uniform float pulse;
uniform float time;
varying float vDist;
varying float vDim;
void main() {
  if (dashed > 0.5 && mod(vDist, 3.2) > 1.8) discard;
  float a = opacity * vDim;
  if (pulse > 0.5) a *= 0.45 + 0.55 * (0.5 + 0.5 * sin(time * 1.6 - vDist * 0.12));
  gl_FragColor = vec4(color, a);
}`;

export const particleVertex = /* glsl */ `
uniform float time;
uniform float maxRank;
uniform float pixelScale;
attribute vec3 aEnd;
attribute float aPhase;
attribute float aSpeed;
attribute float aRank;
attribute float aDim;
attribute vec3 aColor;
varying vec3 vColor;
varying float vAlpha;
void main() {
  float t = fract(aPhase + time * aSpeed);
  vec3 p = mix(position, aEnd, t);
  vec4 mv = modelViewMatrix * vec4(p, 1.0);
  gl_Position = projectionMatrix * mv;
  float dist = max(-mv.z, 1.0);
  // Level of detail: zoomed out, only the first particles of each edge remain.
  float keep = step(aRank + 0.5, maxRank);
  gl_PointSize = keep * step(0.001, aDim) * clamp(pixelScale * 90.0 / dist, 1.5, 9.0);
  vColor = aColor;
  vAlpha = aDim * (0.35 + 0.65 * sin(3.14159 * t));
}`;

export const particleFragment = /* glsl */ `
varying vec3 vColor;
varying float vAlpha;
void main() {
  vec2 c = gl_PointCoord - 0.5;
  float d = length(c);
  if (d > 0.5) discard;
  gl_FragColor = vec4(vColor, (1.0 - d * 2.0) * vAlpha);
}`;
