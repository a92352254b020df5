// Entity fields as people read them: a label for each known field (else the snake_case
// name in words) and its value with its unit (bytes, cores, rates, times).
import type { Entity, Scalar } from "../api/types";
import { bytes, rate, relativeTime } from "./format";

type Format = (v: number) => string;

const millicores: Format = (v) => `${v}m (${(v / 1000).toFixed(v % 1000 ? 2 : 0)} ${v === 1000 ? "core" : "cores"})`;
const perSecond = (unit: string): Format => (v) => rate(v, ` ${unit}/s`);
const percent: Format = (v) => `${v.toFixed(v < 10 && v % 1 ? 1 : 0)}%`;
const epoch: Format = (v) => `${new Date(v * 1000).toISOString().slice(0, 19).replace("T", " ")} (${relativeTime(v)})`;

/** Known fields: [label, format of a number]. */
const FIELDS: Record<string, [string, Format?]> = {
  cpu_request: ["CPU request", millicores],
  cpu_limit: ["CPU limit", millicores],
  cpu_usage: ["CPU use", millicores],
  memory_request: ["Memory request", bytes],
  memory_limit: ["Memory limit", bytes],
  capacity_bytes: ["Capacity", bytes],
  used_bytes: ["Used", bytes],
  size_bytes: ["Size", bytes],
  bytes: ["Bytes stored", bytes],
  used_percent: ["Used", percent],
  io_util_percent: ["I/O busy", percent],
  pool_percent: ["Pool in use", percent],
  restart_count: ["Restarts"],
  replicas: ["Replicas wanted"],
  ready_replicas: ["Replicas ready"],
  updated_replicas: ["Replicas updated"],
  available_replicas: ["Replicas available"],
  unavailable_replicas: ["Replicas unavailable"],
  current_replicas: ["Replicas current"],
  msgs_per_sec: ["Messages", perSecond("msg")],
  in_msgs_per_sec: ["Messages in", perSecond("msg")],
  out_msgs_per_sec: ["Messages out", perSecond("msg")],
  delivered_per_sec: ["Delivered", perSecond("msg")],
  acked_per_sec: ["Acknowledged", perSecond("msg")],
  bytes_per_sec: ["Throughput", (v) => `${bytes(v)}/s`],
  in_bytes_per_sec: ["Bytes in", (v) => `${bytes(v)}/s`],
  out_bytes_per_sec: ["Bytes out", (v) => `${bytes(v)}/s`],
  queue_depth: ["Queue depth"],
  num_pending: ["Pending"],
  num_ack_pending: ["Awaiting ack"],
  num_redelivered: ["Redelivered"],
  num_waiting: ["Waiting pulls"],
  max_ack_pending: ["Max awaiting ack"],
  boot_time: ["Booted", epoch],
  started_at: ["Started"],
  k8s_kind: ["Kubernetes kind"],
  uid: ["UID"],
  qos_class: ["QoS class"],
  ip: ["IP"],
  cluster_ip: ["Cluster IP"],
  pid: ["PID"],
  exe: ["Executable"],
  cmdline: ["Command line"],
  fstype: ["File system"],
  cpu_count: ["CPUs"],
  io_utilization: ["I/O busy", (v) => percent(v > 1 ? v : v * 100)],
};

const WORDS: Record<string, string> = {
  cpu: "CPU", ip: "IP", id: "ID", io: "I/O", qos: "QoS", uid: "UID", url: "URL", tls: "TLS", nats: "NATS",
  k8s: "Kubernetes", num: "", msgs: "messages", sec: "second", ack: "ack",
};

/** A field's label: from the table, or its snake_case name in words. */
export function fieldLabel(name: string): string {
  const known = FIELDS[name]?.[0];
  if (known) return known;
  const words = name.split(/[_\s]+/).map((w) => WORDS[w.toLowerCase()] ?? w.toLowerCase()).filter(Boolean);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A field's value with its unit. */
export function fieldValue(name: string, value: Scalar): string {
  if (value === null) return "–";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") {
    const format = FIELDS[name]?.[1];
    if (format) return format(value);
    if (/_bytes$/.test(name)) return bytes(value);
    if (/_per_sec$/.test(name)) return rate(value);
    if (/_percent$/.test(name)) return percent(value);
    return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(2);
  }
  // A moment as a source wrote it (Docker's `StartedAt`, with nanoseconds): as the others.
  if (/_at$/.test(name) && /^\d{4}-\d\d-\d\dT/.test(value)) {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return epoch(ms / 1000);
  }
  return value;
}

/** The entity's status, with its source's own word for it where that differs (a Docker
 * container "restarting" is pending its next run): one row, not two that seem to disagree. */
export function statusText(e: Entity): string {
  const status = e.status ?? "unknown";
  const state = e.attrs?.state;
  return typeof state === "string" && state && state !== status ? `${status} (${state})` : status;
}

/** The rows of an entity's own fields: labelled, with units; none for an empty value, nor
 * for the source's state word that statusText already shows. */
export function attrRows(e: Entity): [string, string][] {
  return Object.entries(e.attrs ?? {})
    .filter(([k, v]) => k !== "simulated" && !k.startsWith("gitops_") && v !== "" && k !== "state")
    .map(([k, v]) => [fieldLabel(k), fieldValue(k, v)]);
}

/** An edge's rate in its own unit: messages for NATS, requests for the rest. */
export function edgeRateText(kind: string, requests: number | null | undefined, bytesPerSec: number | null | undefined): string {
  const parts: string[] = [];
  if (requests != null) parts.push(rate(requests, kind === "nats" ? " msg/s" : " req/s"));
  if (bytesPerSec != null) parts.push(`${bytes(bytesPerSec)}/s`);
  return parts.join(" · ");
}
