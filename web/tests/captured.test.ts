// The mapping fed with what the sources really emit (tests/fixtures/captured, recorded by
// scripts/capture-fixtures.py from kubesim, this host, nats-server, PostgreSQL and Docker),
// so a field name or a unit no source uses cannot hide behind hand-made test values.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Entity } from "../src/api/types";
import { FIELDS, cpuRequestCores, ioBusyPercent, ioText, read } from "../src/scene/fields";
import { entityColour, entitySize } from "../src/scene/mapping";

function captured(source: string): Entity[] {
  const path = join(__dirname, "..", "..", "tests", "fixtures", "captured", `${source}.json`);
  return (JSON.parse(readFileSync(path, "utf8")) as { entities: Entity[] }).entities;
}

const ALL = ["kubernetes", "host", "nats", "postgres", "docker", "code"].flatMap(captured);
const of = (kind: string) => ALL.filter((e) => e.kind === kind);

describe("captured source output", () => {
  it("carries every field the map reads, on the kind it is read from", () => {
    for (const [name, field] of Object.entries(FIELDS)) {
      const carrying = of(field.kind).filter((e) => read(e, field) != null);
      expect(carrying.length, `${name}: ${field.kind}.${field.in}.${field.name}`).toBeGreaterThan(0);
    }
  });

  it("sizes pods by their CPU request in cores, not millicores taken for cores", () => {
    const pods = of("pod").filter((p) => cpuRequestCores(p) != null);
    expect(pods.length).toBeGreaterThan(0);
    for (const pod of pods) {
      // Kubernetes says millicores: 100 is a tenth of a core.
      expect(cpuRequestCores(pod)).toBe((pod.attrs?.["cpu_request"] as number) / 1000);
      // A 100m pod is a small sphere; read as 100 cores it was drawn at the maximum size.
      if (cpuRequestCores(pod)! <= 0.1) expect(entitySize(pod)).toBeLessThan(1.2);
    }
  });

  it("colours volumes by measured I/O, and says so where nothing measures it", () => {
    const measured = of("volume").filter((v) => ioBusyPercent(v) != null);
    const unmeasured = of("volume").filter((v) => ioBusyPercent(v) == null);
    expect(measured.every((v) => v.sources?.includes("host"))).toBe(true);
    expect(measured.length).toBeGreaterThan(0);
    // Docker volumes and Kubernetes persistent volumes carry no I/O figure.
    expect(unmeasured.some((v) => v.sources?.includes("docker"))).toBe(true);
    expect(unmeasured.some((v) => v.sources?.includes("kubernetes"))).toBe(true);
    for (const v of unmeasured) expect(ioText(v)).toBe("no I/O data");
    const volume = { ...measured[0], health_status: "ok" as const };
    const withIo = (busy: number, full: number): Entity =>
      ({ ...volume, custom_metrics: { ...volume.custom_metrics, io_util_percent: busy, used_percent: full } });
    // The colour follows how busy the disk is, not how full the volume is.
    expect(entityColour(withIo(5, 90))).toEqual(entityColour(withIo(5, 10)));
    expect(entityColour(withIo(95, 10))).not.toEqual(entityColour(withIo(5, 10)));
    expect(ioText(withIo(42, 10))).toBe("42% busy");
  });

  it("reads NATS subjects' rate and depth under the names the source gives them", () => {
    const subjects = of("nats_subject");
    expect(subjects.some((s) => read(s, FIELDS.messageRate)! > 0)).toBe(true);
    const deep = subjects.find((s) => read(s, FIELDS.queueDepth)! > 0)!;
    const { queue_depth: _depth, ...others } = deep.custom_metrics!;
    // Sized by its backlog: without it, the default size.
    expect(entitySize(deep)).not.toBe(entitySize({ ...deep, custom_metrics: others }));
  });

  it("gets counts as whole numbers", () => {
    for (const e of [...of("nats_subject"), ...of("nats_stream"), ...of("database")]) {
      for (const name of ["subscribers", "messages", "consumers", "connections", "queue_depth"]) {
        const value = e.custom_metrics?.[name];
        if (value != null) expect(Number.isInteger(value), `${e.id} ${name}`).toBe(true);
      }
    }
  });
});
