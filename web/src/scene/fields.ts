// Which field carries each quantity the map draws, and in which unit, exactly as the
// sources emit it (docs/api.md, "Units"): one name per quantity, no guessed aliases.
// web/tests/captured.test.ts holds this table to real source output
// (tests/fixtures/captured, made by scripts/capture-fixtures.py).
import type { Entity, EntityKind } from "../api/types";

export interface Field {
  kind: EntityKind;
  in: "attrs" | "custom_metrics";
  name: string;
  unit: string;
}

export const FIELDS = {
  cpuRequest: { kind: "pod", in: "attrs", name: "cpu_request", unit: "millicores" },
  replicas: { kind: "deployment", in: "attrs", name: "replicas", unit: "count" },
  readyReplicas: { kind: "deployment", in: "attrs", name: "ready_replicas", unit: "count" },
  messageRate: { kind: "nats_subject", in: "custom_metrics", name: "msgs_per_sec", unit: "per second" },
  queueDepth: { kind: "nats_subject", in: "custom_metrics", name: "queue_depth", unit: "count" },
  poolPercent: { kind: "database", in: "custom_metrics", name: "pool_percent", unit: "percent" },
  storageBytes: { kind: "database", in: "custom_metrics", name: "storage_bytes", unit: "bytes" },
  // Host volumes only: Docker and Kubernetes do not measure a volume's I/O.
  ioBusy: { kind: "volume", in: "custom_metrics", name: "io_util_percent", unit: "percent" },
  capacityBytes: { kind: "volume", in: "attrs", name: "capacity_bytes", unit: "bytes" },
} satisfies Record<string, Field>;

/** The field's value, or null when the entity does not carry it (no data, not zero). */
export function read(entity: Entity, field: Field): number | null {
  const value = field.in === "attrs" ? entity.attrs?.[field.name] : entity.custom_metrics?.[field.name];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** A pod's CPU request in cores (the source gives millicores: 250 is a quarter core). */
export function cpuRequestCores(entity: Entity): number | null {
  const millicores = read(entity, FIELDS.cpuRequest);
  return millicores == null ? null : millicores / 1000;
}

/** How busy a volume's disk was, 0..100; null when nothing measures it. */
export function ioBusyPercent(entity: Entity): number | null {
  return read(entity, FIELDS.ioBusy);
}

/** What the volume colour stands for, in words: never a fullness figure passed off as I/O. */
export function ioText(entity: Entity): string {
  const busy = ioBusyPercent(entity);
  return busy == null ? "no I/O data" : `${busy.toFixed(busy < 10 ? 1 : 0)}% busy`;
}
