import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Entity } from "../src/api/types";
import { attrRows, edgeRateText, fieldLabel, fieldValue, statusText } from "../src/panels/fields";

describe("fields", () => {
  it("labels fields in words, never raw snake_case", () => {
    expect(fieldLabel("updated_replicas")).toBe("Replicas updated");
    expect(fieldLabel("memory_request")).toBe("Memory request");
    expect(fieldLabel("listening_ports")).toBe("Listening ports");
    expect(fieldLabel("num_waiting")).toBe("Waiting pulls");
    expect(fieldLabel("backlog_growing")).toBe("Backlog growing");
    expect(fieldLabel("ingress_class")).toBe("Ingress class");
  });

  it("gives values their units", () => {
    expect(fieldValue("memory_request", 134217728)).toBe("128 MiB");
    expect(fieldValue("cpu_request", 100)).toBe("100m (0.10 cores)");
    expect(fieldValue("cpu_limit", 1000)).toBe("1000m (1 core)");
    expect(fieldValue("capacity_bytes", 270553174016)).toBe("252 GiB");
    expect(fieldValue("msgs_per_sec", 25.06)).toBe("25 msg/s");
    expect(fieldValue("io_util_percent", 2.959)).toBe("3.0%");
    expect(fieldValue("paused", false)).toBe("no");
    expect(fieldValue("keys", 2)).toBe("2");
  });

  it("says msg/s on NATS edges and req/s on others", () => {
    expect(edgeRateText("nats", 12.5, null)).toBe("13 msg/s");
    expect(edgeRateText("http", 3, 2048)).toBe("3.0 req/s · 2.0 KiB/s");
  });
});

describe("a Docker container's details, from captured source output", () => {
  const path = join(__dirname, "..", "..", "tests", "fixtures", "captured", "docker.json");
  const containers = (JSON.parse(readFileSync(path, "utf8")) as { entities: Entity[] }).entities
    .filter((e) => e.kind === "container");
  const running = containers.find((e) => e.status === "running")!;

  it("shows no empty row and a start time people read", () => {
    const rows = new Map(attrRows(running));
    expect(running.attrs?.ports).toBe(""); // what the source sent: no ports published
    expect(rows.has("Ports")).toBe(false);
    expect(rows.get("Started")).toMatch(/^2026-11-30 00:10:24 \(.+\)$/);
  });

  it("says the status once, with Docker's word where it differs", () => {
    expect(statusText(running)).toBe("running");
    expect(new Map(attrRows(running)).has("State")).toBe(false);
    // The same container caught between two runs of a crash loop.
    const restarting = { ...running, status: "pending", attrs: { ...running.attrs, state: "restarting" } } as Entity;
    expect(statusText(restarting)).toBe("pending (restarting)");
  });
});
