// Each kind's own colour: what a healthy entity is drawn in, and what the legend's icons
// show. Problems are drawn in the health colours (mapping.ts COLOURS: amber, red, grey),
// so no tint here may read as one of them: blues, teals, greens and violets only, muted
// so that healthy entities recede and the unhealthy ones stand out.
import type { EntityKind } from "../api/types";
import type { RGB } from "./mapping";

export const KIND_TINTS: Record<EntityKind, RGB> = {
  namespace: [0.45, 0.55, 0.8],
  pod: [0.3, 0.7, 0.48],
  container: [0.27, 0.64, 0.62],
  deployment: [0.38, 0.55, 0.92],
  replicaset: [0.47, 0.6, 0.86],
  statefulset: [0.47, 0.48, 0.95],
  daemonset: [0.33, 0.63, 0.93],
  job: [0.56, 0.62, 0.88],
  service: [0.36, 0.6, 1.0],
  ingress: [0.25, 0.76, 0.88],
  configmap: [0.3, 0.72, 0.86],
  secret: [0.66, 0.55, 0.93],
  volume: [0.4, 0.5, 0.86],
  database: [0.3, 0.66, 0.9],
  nats_subject: [0.58, 0.44, 0.95],
  nats_stream: [0.63, 0.47, 0.95],
  nats_consumer: [0.73, 0.52, 0.95],
  nats_server: [0.8, 0.56, 1.0],
  process: [0.38, 0.68, 0.74],
  node: [0.5, 0.64, 0.86],
  network: [0.42, 0.6, 0.72],
  repository: [0.56, 0.74, 0.98],
  package: [0.5, 0.6, 0.92],
  module: [0.64, 0.7, 1.0],
};

export function kindTint(kind: string): RGB {
  return KIND_TINTS[kind as EntityKind] ?? [0.45, 0.6, 0.8];
}

/** A healthy kind's load (0..1) as its tint brightening towards white: busy, not bad. */
export function loadColour(kind: string, load: number): RGB {
  const t = kindTint(kind);
  const k = Math.min(1, Math.max(0, load)) * 0.45;
  return [t[0] + (1 - t[0]) * k, t[1] + (1 - t[1]) * k, t[2] + (1 - t[2]) * k];
}
