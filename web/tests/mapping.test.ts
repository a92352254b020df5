import { describe, expect, it } from "vitest";
import type { Entity, EntityKind } from "../src/api/types";
import {
  COLOURS, EDGE_STYLES, KIND_STYLES, entityColour, entitySize, healthColour, isSimulated, kindStyle,
  particleFlow, pulses, scoreColour, spins,
} from "../src/scene/mapping";
import { KIND_TINTS } from "../src/scene/palette";

const e = (kind: EntityKind, extra: Partial<Entity> = {}): Entity => ({ id: `${kind}:x`, kind, name: "x", ...extra });

describe("shapes", () => {
  it("follows the product plan's Node Shapes table", () => {
    const plan: Record<string, string> = {
      namespace: "torus", pod: "sphere", service: "octahedron", deployment: "dodecahedron", container: "cube",
      nats_subject: "cone", database: "cylinder", volume: "box", configmap: "icosahedron", secret: "tetrahedron",
    };
    for (const [kind, shape] of Object.entries(plan)) expect(kindStyle(kind).shape).toBe(shape);
  });

  it("gives every kind its own shape and a legend label", () => {
    const shapes = Object.values(KIND_STYLES).map((s) => s.shape);
    expect(new Set(shapes).size).toBe(shapes.length);
    for (const kind of ["process", "network", "node", "nats_consumer", "nats_server", "replicaset", "statefulset", "daemonset", "job"]) {
      expect(KIND_STYLES[kind as EntityKind].label.length).toBeGreaterThan(0);
    }
  });
});

function near(actual: number[], expected: number[]) {
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 5));
}

describe("colours", () => {
  it("runs green to amber to red, grey when unknown", () => {
    near(scoreColour(1), COLOURS.green);
    near(scoreColour(0.5), COLOURS.amber);
    near(scoreColour(0), COLOURS.red);
    expect(scoreColour(null)).toEqual(COLOURS.grey);
    expect(healthColour(e("pod"))).toEqual(COLOURS.grey);
    expect(healthColour(e("pod", { health: 1, health_status: "ok", stale: true }))).toEqual(COLOURS.grey);
  });

  it("draws health in exactly the legend's colours, whatever the score", () => {
    // A critical container whose score is still high was drawn salmon; a warning olive.
    expect(entityColour(e("container", { health: 0.998, health_status: "critical" }))).toEqual(COLOURS.red);
    expect(entityColour(e("pod", { health: 0.7, health_status: "warning" }))).toEqual(COLOURS.amber);
    expect(entityColour(e("deployment", { health: 1, health_status: "warning" }))).toEqual(COLOURS.amber);
    expect(entityColour(e("pod", { health: 1 }))).toEqual(COLOURS.grey);
    expect(entityColour(e("pod", { health: 1, health_status: "ok", stale: true }))).toEqual(COLOURS.grey);
    expect(entityColour(e("service", { attrs: { type: "ClusterIP" }, health_status: "critical", health: 0 }))).toEqual(COLOURS.red);
  });

  it("draws a healthy entity in its kind's colour, never one that reads as a health colour", () => {
    expect(entityColour(e("pod", { health: 1, health_status: "ok" }))).toEqual(KIND_TINTS.pod);
    expect(entityColour(e("secret", { health: 1, health_status: "ok" }))).toEqual(KIND_TINTS.secret);
    // Amber and red are the warm hues (330°..60°); grey has no saturation.
    const hsv = ([r, g, b]: number[]) => {
      const max = Math.max(r, g, b), d = max - Math.min(r, g, b);
      const h = d === 0 ? 0 : max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      return { hue: h * 60, saturation: max ? d / max : 0 };
    };
    for (const health of [COLOURS.amber, COLOURS.red]) {
      const { hue } = hsv(health);
      expect(hue < 60 || hue > 330).toBe(true);
    }
    const variants: Partial<Entity>[] = [
      {}, { attrs: { replicas: 4, ready_replicas: 1 } }, { custom_metrics: { msgs_per_sec: 5000 } },
      { custom_metrics: { pool_percent: 100 } }, { custom_metrics: { io_util_percent: 99 } },
      { created_at: 0 }, { attrs: { type: "LoadBalancer" } },
    ];
    for (const kind of Object.keys(KIND_STYLES) as EntityKind[]) {
      for (const extra of variants) {
        const c = entityColour(e(kind, { health: 0.6, health_status: "ok", ...extra }));
        const { hue, saturation } = hsv(c);
        expect(hue > 60 && hue < 330, `${kind} ${JSON.stringify(extra)}: hue ${hue}`).toBe(true);
        expect(saturation, `${kind} ${JSON.stringify(extra)}`).toBeGreaterThan(0.25);
      }
    }
  });

  it("uses the plan's kind logic when healthy: service type, message heat, pool use, age", () => {
    const ok = { health: 1, health_status: "ok" as const };
    const cluster = entityColour(e("service", { attrs: { type: "ClusterIP" }, ...ok }));
    const lb = entityColour(e("service", { attrs: { type: "LoadBalancer" }, ...ok }));
    expect(cluster).not.toEqual(lb);
    const quiet = entityColour(e("nats_subject", { custom_metrics: { msgs_per_sec: 0 }, ...ok }));
    const busy = entityColour(e("nats_subject", { custom_metrics: { msgs_per_sec: 5000 }, ...ok }));
    expect(busy[0]).toBeGreaterThan(quiet[0]);
    const idle = entityColour(e("database", { custom_metrics: { pool_percent: 0 }, ...ok }));
    const full = entityColour(e("database", { custom_metrics: { pool_percent: 100 }, ...ok }));
    expect(full).not.toEqual(idle);
    const now = 1_800_000_000;
    const young = entityColour(e("configmap", { created_at: now, ...ok }), now);
    const old = entityColour(e("configmap", { created_at: now - 90 * 86400, ...ok }), now);
    expect(young).not.toEqual(old);
  });
});

describe("sizes", () => {
  it("grows with the plan's measure and keeps secrets small", () => {
    // cpu_request in millicores, as the Kubernetes source gives it: 2 cores vs 50m.
    expect(entitySize(e("pod", { attrs: { cpu_request: 2000 } }))).toBeGreaterThan(entitySize(e("pod", { attrs: { cpu_request: 50 } })));
    expect(entitySize(e("service"), 20)).toBeGreaterThan(entitySize(e("service"), 1));
    expect(entitySize(e("container", { memory_limit: 4 * 2 ** 30 }))).toBeGreaterThan(entitySize(e("container", { memory_limit: 64 * 2 ** 20 })));
    expect(entitySize(e("volume", { attrs: { capacity_bytes: 100 * 2 ** 30 } }))).toBeGreaterThan(entitySize(e("volume")));
    expect(entitySize(e("secret"))).toBeLessThan(1);
  });
});

describe("animation and badges", () => {
  it("pulses unhealthy, spins processing, badges simulated", () => {
    expect(pulses(e("pod", { health: 0.2, health_status: "critical" }))).toBe(true);
    expect(pulses(e("pod", { health: 0.9, health_status: "ok" }))).toBe(false);
    expect(spins(e("job", { status: "processing" }))).toBe(true);
    expect(isSimulated(e("pod", { sources: ["synthetic"] }))).toBe(true);
    expect(isSimulated(e("pod", { attrs: { simulated: true } }))).toBe(true);
    expect(isSimulated(e("pod", { sources: ["docker"] }))).toBe(false);
  });
});

describe("edges", () => {
  it("follows the Edge Types table", () => {
    expect(EDGE_STYLES.grpc.dashed && EDGE_STYLES.depends.dashed).toBe(true);
    expect(EDGE_STYLES.http.dashed || EDGE_STYLES.network.dashed).toBe(false);
    expect(EDGE_STYLES.volume.pulse).toBe(true);
    expect(particleFlow("network", 100).count).toBe(0);
    expect(particleFlow("owns", 100).count).toBe(0);
  });

  it("makes particles denser and faster with the rate; gRPC faster than HTTP", () => {
    const idle = particleFlow("http", 0), busy = particleFlow("http", 1000);
    expect(busy.count).toBeGreaterThan(idle.count);
    expect(busy.speed).toBeGreaterThan(idle.speed);
    expect(particleFlow("grpc", 10).speed).toBeGreaterThan(particleFlow("http", 10).speed);
  });
});
