// The wire shapes of docs/api.md. Fields left out by the server are their defaults
// (`omit_defaults`): optional here.

export type EntityKind =
  | "namespace" | "pod" | "service" | "deployment" | "container" | "nats_subject"
  | "nats_stream" | "database" | "volume" | "configmap" | "secret" | "ingress" | "node"
  | "process" | "network" | "nats_consumer" | "nats_server" | "replicaset"
  | "statefulset" | "daemonset" | "job"
  // Code Mode (the code source).
  | "repository" | "package" | "module";

export type ConnectionKind =
  | "network" | "http" | "grpc" | "nats" | "volume" | "depends" | "owns" | "imports" | "runs_as";
export type HealthStatus = "unknown" | "ok" | "warning" | "critical";
export type Severity = "info" | "warning" | "error" | "critical";
export type Scalar = string | number | boolean | null;

export interface Entity {
  id: string;
  kind: EntityKind;
  name: string;
  namespace?: string | null;
  status?: string;
  health?: number | null;
  health_status?: HealthStatus;
  health_reasons?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  cpu_percent?: number | null;
  memory_bytes?: number | null;
  memory_limit?: number | null;
  network_rx_bytes?: number | null;
  network_tx_bytes?: number | null;
  network_rx_rate?: number | null;
  network_tx_rate?: number | null;
  custom_metrics?: Record<string, number>;
  attrs?: Record<string, Scalar>;
  endpoints?: string[];
  sources?: string[];
  stale?: boolean;
  created_at?: number | null;
  updated_at?: number | null;
}

export interface Connection {
  id: string;
  source_id: string;
  target_id: string;
  kind: ConnectionKind;
  requests_per_sec?: number | null;
  bytes_per_sec?: number | null;
  error_rate?: number | null;
  latency_ms?: number | null;
  attrs?: Record<string, Scalar>;
  sources?: string[];
}

export interface KindSummary {
  count: number; health?: number | null; ok: number; warning: number; critical: number; unknown: number;
}

export interface Summary {
  total: number; overall?: number | null; healthy: number; warning: number; critical: number;
  unknown: number; by_kind: Record<string, KindSummary>;
}

export interface SourceStatus {
  name: string;
  state: "starting" | "ok" | "degraded" | "down" | "disabled";
  reason?: string;
  since?: number;
  last_ok?: number | null;
  entities?: number;
  /** What a source says of itself beyond its state (a federated site: agent, lag, drops). */
  details?: Record<string, string | number | boolean | null>;
}

export interface Topology {
  version: number;
  timestamp: number;
  entities: Entity[];
  connections: Connection[];
  summary?: Summary;
  sources?: SourceStatus[];
  /** A past moment (`?at=`): the moment asked, and the gap when nothing was recorded then. */
  at?: number;
  gap?: { from: number; to: number | null; message: string } | null;
}

export interface Delta {
  version: number;
  timestamp: number;
  observed_at?: number | null;
  upserts?: Entity[];
  removals?: string[];
  edge_upserts?: Connection[];
  edge_removals?: string[];
}

/**
 * The topology at a past moment as a change from the one at another (`?at=&since=`):
 * a delta's fields, with the whole answer's version, summary and gap.
 */
export interface TopologyChange extends Delta {
  at: number;
  since: number;
  /** The version of the topology at `since`: the one the change applies to. */
  since_version: number;
  summary?: Summary;
  sources?: SourceStatus[];
  gap?: Topology["gap"];
}

export type MetricValues = Partial<Pick<Entity,
  "cpu_percent" | "memory_bytes" | "memory_limit" | "network_rx_rate" | "network_tx_rate" |
  "network_rx_bytes" | "network_tx_bytes" | "health" | "custom_metrics">>;

export interface MetricsFrame {
  timestamp: number;
  observed_at?: number | null;
  values: Record<string, MetricValues>;
}

export interface InfraEvent {
  id: string;
  type: string;
  reason: string;
  message: string;
  entity_id: string;
  entity_kind: EntityKind;
  entity_name: string;
  timestamp: number;
  severity?: Severity;
  source?: string;
  namespace?: string | null;
  count?: number;
}

export interface Alert {
  id: string;
  rule: string;
  entity_id: string;
  severity: Severity;
  state: string;
  message: string;
  started_at: number;
  updated_at: number;
  resolved_at?: number | null;
  entity_kind?: EntityKind | null;
  entity_name?: string;
  labels?: Record<string, string>;
  blast_radius?: string[];
}

export interface EntityDetails {
  entity: Entity;
  incoming: Connection[];
  outgoing: Connection[];
  events: InfraEvent[];
  contributions?: Record<string, Entity>;
  /** A past moment: the entity's last metric samples before it. */
  metrics?: Record<string, number>;
}

export interface MetricSeries {
  entity_id: string;
  series: Record<string, [number, number][]>;
}

export interface VisualizationConfig {
  max_entities: number;
  layout_algorithm: string;
  animation_fps: number;
}

/** An anomaly (GET /api/infra/anomalies): a series outside its expected band. */
export interface Anomaly {
  entity_id: string;
  series: string;
  since: number;
  observed: number;
  expected_low: number;
  expected_high: number;
  muted: string | null;
}

/** One series' model (GET /api/infra/anomalies/series/{id}): the band sparklines draw. */
export interface SeriesBand {
  series: string;
  state: "learning" | "normal" | "unusual";
  observed: number;
  expected_low: number;
  expected_high: number;
}
