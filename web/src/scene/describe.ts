// One line that says what an entity is and how it is: for the hover label.
import type { Entity } from "../api/types";
import { kindStyle } from "./mapping";

export function describeEntity(e: Entity): string {
  const kind = kindStyle(e.kind).label;
  const status = e.stale ? "stale" : e.health_status ?? "unknown";
  const reason = e.health_reasons?.[0];
  const health = status === "ok" ? "healthy" : reason ? `${status}: ${reason}` : status;
  return `${e.name} · ${kind} · ${health}`;
}
