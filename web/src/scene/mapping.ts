// How an entity looks: shape by kind, colour and size by the product plan's "Node Shapes"
// table, health colours, and edge styles by its "Edge Types" table. Pure functions: the
// scene and the legend read the same tables.
import type { ConnectionKind, Entity, EntityKind } from "../api/types";
import { FIELDS, cpuRequestCores, ioBusyPercent, read } from "./fields";
import { kindTint, loadColour } from "./palette";

export type Shape =
  | "torus" | "sphere" | "octahedron" | "dodecahedron" | "cube" | "cone" | "cylinder" | "box"
  | "icosahedron" | "tetrahedron" | "capsule" | "ring" | "diamond" | "hexprism" | "pyramid"
  | "knot" | "torusSmall" | "star" | "triprism" | "cubeFlat" | "octaFlat"
  | "slab" | "pentaprism" | "sheet";

export interface KindStyle {
  shape: Shape;
  label: string;
  /** What the colour says, for the legend. */
  colour: string;
}

// The plan's ten kinds first, then a distinct shape for each kind the plan lacks.
export const KIND_STYLES: Record<EntityKind, KindStyle> = {
  namespace: { shape: "torus", label: "Namespace", colour: "label hash" },
  pod: { shape: "sphere", label: "Pod", colour: "kind colour" },
  service: { shape: "octahedron", label: "Service", colour: "service type" },
  deployment: { shape: "dodecahedron", label: "Deployment", colour: "kind colour" },
  container: { shape: "cube", label: "Container", colour: "kind colour" },
  nats_subject: { shape: "cone", label: "NATS subject", colour: "message rate" },
  database: { shape: "cylinder", label: "Database", colour: "pool use" },
  volume: { shape: "box", label: "Volume", colour: "I/O use (health where no I/O data)" },
  configmap: { shape: "icosahedron", label: "ConfigMap", colour: "age" },
  secret: { shape: "tetrahedron", label: "Secret", colour: "kind colour" },
  // Beyond the plan's table.
  process: { shape: "capsule", label: "Process", colour: "kind colour" },
  network: { shape: "ring", label: "Network", colour: "kind colour" },
  node: { shape: "hexprism", label: "Node / host", colour: "kind colour" },
  ingress: { shape: "diamond", label: "Ingress", colour: "kind colour" },
  nats_stream: { shape: "knot", label: "NATS stream", colour: "kind colour" },
  nats_consumer: { shape: "pyramid", label: "NATS consumer", colour: "kind colour" },
  nats_server: { shape: "star", label: "NATS server", colour: "kind colour" },
  replicaset: { shape: "torusSmall", label: "ReplicaSet", colour: "kind colour" },
  statefulset: { shape: "triprism", label: "StatefulSet", colour: "kind colour" },
  daemonset: { shape: "cubeFlat", label: "DaemonSet", colour: "kind colour" },
  job: { shape: "octaFlat", label: "Job", colour: "kind colour" },
  // Code Mode: the code that runs, on its own layer.
  repository: { shape: "slab", label: "Repository", colour: "kind colour" },
  package: { shape: "pentaprism", label: "Package", colour: "kind colour" },
  module: { shape: "sheet", label: "Module", colour: "kind colour (sized by lines of code)" },
};

export const SHAPES: Shape[] = [...new Set(Object.values(KIND_STYLES).map((s) => s.shape))];

export function kindStyle(kind: string): KindStyle {
  return KIND_STYLES[kind as EntityKind] ?? { shape: "sphere", label: kind, colour: "health" };
}

export type RGB = [number, number, number];

export const COLOURS = {
  green: [0.2, 0.83, 0.45] as RGB,
  amber: [0.98, 0.72, 0.16] as RGB,
  red: [0.94, 0.27, 0.27] as RGB,
  grey: [0.45, 0.48, 0.53] as RGB,
  blue: [0.3, 0.55, 0.98] as RGB,
  cyan: [0.2, 0.85, 0.95] as RGB,
  purple: [0.7, 0.45, 0.98] as RGB,
  orange: [0.98, 0.55, 0.2] as RGB,
  white: [0.92, 0.94, 0.97] as RGB,
};

const HOT: RGB = [0.9, 0.62, 1.0];

function mix(a: RGB, b: RGB, t: number): RGB {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** 1 -> green, 0.5 -> amber, 0 -> red; null -> grey. */
export function scoreColour(score: number | null | undefined): RGB {
  if (score == null || Number.isNaN(score)) return COLOURS.grey;
  const s = Math.min(1, Math.max(0, score));
  return s >= 0.5 ? mix(COLOURS.amber, COLOURS.green, (s - 0.5) * 2) : mix(COLOURS.red, COLOURS.amber, s * 2);
}

/** The entity's health in exactly the legend's colours; unknown and stale entities are grey. */
export function healthColour(entity: Entity): RGB {
  if (entity.stale) return COLOURS.grey;
  switch (entity.health_status) {
    case "critical": return COLOURS.red;
    case "warning": return COLOURS.amber;
    case "ok": return COLOURS.green;
    default: return COLOURS.grey;
  }
}

// Namespace hues stay between teal and violet: never amber, red or green (health).
function hashHue(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return 0.45 + (((h >>> 0) % 360) / 360) * 0.35;
}

export function hslToRgb(h: number, s: number, l: number): RGB {
  const f = (n: number) => {
    const k = (n + h * 12) % 12;
    const a = s * Math.min(l, 1 - l);
    return l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
  };
  return [f(0), f(8), f(4)];
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A metric from custom_metrics or attrs, first of the names given. */
export function metric(entity: Entity, ...names: string[]): number | null {
  for (const name of names) {
    const v = num(entity.custom_metrics?.[name]) ?? num(entity.attrs?.[name]);
    if (v != null) return v;
  }
  return null;
}

const SERVICE_TYPE: Record<string, RGB> = {
  ClusterIP: [0.36, 0.6, 1.0],
  NodePort: [0.55, 0.45, 1.0],
  LoadBalancer: [0.2, 0.85, 0.85],
  ExternalName: [0.85, 0.5, 0.95],
};

/**
 * The plan's colour logic. Problems always win, in exactly the legend's colours: critical
 * red, warning amber, unknown or stale grey. A healthy entity shows its kind's own colour
 * (palette.ts), varied by the kind's logic in hues that never read as a health colour.
 */
export function entityColour(entity: Entity, now: number = Date.now() / 1000): RGB {
  if (entity.stale || entity.health_status !== "ok") return healthColour(entity);
  const tint = kindTint(entity.kind);
  switch (entity.kind) {
    case "namespace":
      return hslToRgb(hashHue(entity.labels?.["kubernetes.io/metadata.name"] ?? entity.name), 0.55, 0.6);
    case "service": {
      const type = entity.attrs?.["type"] ?? entity.attrs?.["service_type"];
      return typeof type === "string" && SERVICE_TYPE[type] ? SERVICE_TYPE[type] : tint;
    }
    case "deployment": case "replicaset": case "statefulset": case "daemonset":
      // Missing replicas are a health check (warning, critical): healthy, the kind's colour.
      return tint;
    case "nats_subject": {
      const rate = read(entity, FIELDS.messageRate);
      if (rate == null) return tint;
      // Heat: cool blue when quiet, through purple, to hot pale violet at ~1000 msg/s
      // (not orange: that would read as a warning).
      const t = Math.min(1, Math.log10(1 + rate) / 3);
      return t < 0.5 ? mix(COLOURS.blue, COLOURS.purple, t * 2) : mix(COLOURS.purple, HOT, (t - 0.5) * 2);
    }
    case "database": {
      const pool = metric(entity, "pool_percent");
      if (pool != null) return loadColour(entity.kind, pool / 100);
      const used = metric(entity, "pool_used", "connections", "numbackends", "active_connections");
      const size = metric(entity, "pool_size", "max_connections");
      return used != null && size ? loadColour(entity.kind, used / size) : tint;
    }
    case "volume": {
      // I/O where it is measured; how full a volume is says nothing about its I/O.
      const busy = ioBusyPercent(entity);
      return busy != null ? loadColour(entity.kind, busy / 100) : tint;
    }
    case "configmap": {
      if (entity.created_at == null) return tint;
      // Age gradient: bright cyan when new, deep blue after a month.
      const days = Math.max(0, now - entity.created_at) / 86400;
      return mix(COLOURS.cyan, [0.2, 0.3, 0.7], Math.min(1, days / 30));
    }
    default:
      return tint;
  }
}

function logSize(value: number | null, unit: number, min = 0.8, max = 2.2): number {
  if (value == null || value <= 0) return 1;
  return Math.min(max, Math.max(min, 0.8 + Math.log10(1 + value / unit) * 0.6));
}

/**
 * The plan's size logic, as a scale factor around 1. `degree` is the entity's connection
 * count (services and configmaps are sized by it).
 */
export function entitySize(entity: Entity, degree = 0): number {
  switch (entity.kind) {
    case "namespace":
      return 1; // rings are sized by the spread of their members
    case "pod":
      return logSize(cpuRequestCores(entity), 0.1);
    case "service":
      return logSize(degree, 2);
    case "deployment": case "replicaset": case "statefulset": case "daemonset":
      return logSize(read(entity, FIELDS.replicas), 1);
    case "container":
      return logSize(entity.memory_limit ?? null, 128 * 1024 * 1024);
    case "nats_subject":
      return logSize(read(entity, FIELDS.queueDepth), 10);
    case "database":
      return logSize(read(entity, FIELDS.storageBytes), 1024 ** 3);
    case "volume":
      return logSize(read(entity, FIELDS.capacityBytes), 1024 ** 3);
    case "configmap":
      return logSize(degree, 1);
    case "secret":
      return 0.7;
    case "module":
      return logSize(metric(entity, "loc"), 60, 0.6, 2.4);
    case "package":
      return logSize(metric(entity, "modules"), 4);
    case "repository":
      return 1.8;
    default:
      return 1;
  }
}

/** Unhealthy things pulse; things at work spin. */
export function pulses(entity: Entity): boolean {
  return !entity.stale && (entity.health_status === "critical" || (entity.health != null && entity.health < 0.5));
}

export function spins(entity: Entity): boolean {
  return entity.status === "processing";
}

export function isSimulated(entity: Entity): boolean {
  return Boolean(entity.sources?.includes("synthetic") || entity.attrs?.["simulated"] === true);
}

export interface EdgeStyle {
  colour: RGB;
  dashed: boolean;
  /** Particle speed in edge lengths per second at rate 0, or 0 for none. */
  particles: number;
  pulse: boolean;
  opacity: number;
  label: string;
}

/** How an edge is drawn: its kind's style, or a cycle's (an import in an import cycle). */
export type EdgeStyleKey = ConnectionKind | "import_cycle";

export const EDGE_STYLES: Record<EdgeStyleKey, EdgeStyle> = {
  network: { colour: [0.5, 0.53, 0.58], dashed: false, particles: 0, pulse: false, opacity: 0.35, label: "network" },
  http: { colour: [0.3, 0.55, 0.98], dashed: false, particles: 0.35, pulse: false, opacity: 0.6, label: "HTTP" },
  grpc: { colour: [0.2, 0.85, 0.95], dashed: true, particles: 0.8, pulse: false, opacity: 0.6, label: "gRPC" },
  nats: { colour: [0.7, 0.45, 0.98], dashed: false, particles: 0.5, pulse: false, opacity: 0.6, label: "NATS" },
  // Not orange: amber and red mean trouble on this map.
  volume: { colour: [0.55, 0.78, 0.72], dashed: false, particles: 0, pulse: true, opacity: 0.6, label: "volume" },
  depends: { colour: [0.55, 0.58, 0.62], dashed: true, particles: 0, pulse: false, opacity: 0.45, label: "depends" },
  owns: { colour: [0.9, 0.92, 0.95], dashed: false, particles: 0, pulse: false, opacity: 0.16, label: "owns" },
  imports: { colour: [0.55, 0.66, 0.98], dashed: false, particles: 0, pulse: false, opacity: 0.4, label: "imports (static)" },
  // Magenta: a cycle is worth seeing, but it is not a runtime fault (amber, red).
  import_cycle: { colour: [0.96, 0.36, 0.86], dashed: false, particles: 0, pulse: false, opacity: 0.85, label: "import cycle" },
  runs_as: { colour: [0.78, 0.93, 1.0], dashed: true, particles: 0, pulse: false, opacity: 0.75, label: "runs as" },
};

export const EDGE_KINDS = Object.keys(EDGE_STYLES) as EdgeStyleKey[];

export function edgeStyleKey(edge: { edge: { kind: ConnectionKind }; cycle?: boolean }): EdgeStyleKey {
  return edge.cycle ? "import_cycle" : edge.edge.kind;
}

/** Particles on an edge and their speed (edge lengths/s): both grow with the rate. */
export function particleFlow(kind: ConnectionKind, rate: number | null | undefined): { count: number; speed: number } {
  const base = EDGE_STYLES[kind]?.particles ?? 0;
  if (!base) return { count: 0, speed: 0 };
  const r = Math.max(0, rate ?? 0);
  const level = Math.log10(1 + r); // 0 idle, 1 ~ 10/s, 2 ~ 100/s, 3 ~ 1000/s
  return { count: Math.min(6, 1 + Math.floor(level * 1.7)), speed: base * (0.6 + level * 0.5) };
}

export function edgeRate(kind: ConnectionKind, edge: { requests_per_sec?: number | null; bytes_per_sec?: number | null }): number {
  if (edge.requests_per_sec != null) return edge.requests_per_sec;
  if (kind === "nats" && edge.bytes_per_sec != null) return edge.bytes_per_sec / 256;
  return 0;
}
