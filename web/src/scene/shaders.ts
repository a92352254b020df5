// Edges: one LineSegments for all styles; dashes and the volume pulse are drawn in the
// fragment shader from the distance along the edge. Particles: one Points for all traffic, each
// particle moved along its edge in the vertex shader, so the CPU only rewrites ends.
/** For `styles` edge styles, their looks in uniform arrays indexed by each vertex's style. */
export const edgeVertex = (styles: number) => /* glsl */ `
uniform vec3 colours[${styles}];
uniform vec3 looks[${styles}]; // opacity, dashed, pulse
attribute float aDist;
attribute float aDim;
attribute float aStyle;
varying float vDist;
varying vec3 vColour;
varying vec3 vLook; // opacity times dim, dashed, pulse
void main() {
  int style = int(aStyle + 0.5);
  vDist = aDist;
  vColour = colours[style];
  vLook = vec3(looks[style].x * aDim, looks[style].yz);
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}`;

export const edgeFragment = /* glsl */ `
uniform float time;
varying float vDist;
varying vec3 vColour;
varying vec3 vLook;
void main() {
  if (vLook.y > 0.5 && mod(vDist, 3.2) > 1.8) discard;
  float a = vLook.x;
  if (vLook.z > 0.5) a *= 0.45 + 0.55 * (0.5 + 0.5 * sin(time * 1.6 - vDist * 0.12));
  gl_FragColor = vec4(vColour, a);
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
