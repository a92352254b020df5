import { describe, expect, it } from "vitest";
import type { Entity, EntityKind } from "../src/api/types";
import {
  COLOURS, EDGE_STYLES, KIND_STYLES, entityColour, entitySize, healthColour, isSimulated, kindStyle,
  particleFlow, pulses, scoreColour, spins,
} from "../src/scene/mapping";

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

  it("shows health for pods and containers", () => {
    near(entityColour(e("pod", { health: 1, health_status: "ok" })), COLOURS.green);
    const critical = entityColour(e("container", { health: 0.1, health_status: "critical" }));
    expect(critical[0]).toBeGreaterThan(0.9);
    expect(critical[1]).toBeLessThan(0.5);
  });

  it("keeps secrets amber and lets problems win over kind colours", () => {
    expect(entityColour(e("secret", { health: 1, health_status: "ok" }))).toEqual(COLOURS.amber);
    expect(entityColour(e("service", { attrs: { type: "ClusterIP" }, health_status: "critical", health: 0 }))).toEqual(COLOURS.red);
  });

  it("uses the plan's kind logic: service type, rollout, message heat, pool use, age", () => {
    const cluster = entityColour(e("service", { attrs: { type: "ClusterIP" }, health_status: "ok" }));
    const lb = entityColour(e("service", { attrs: { type: "LoadBalancer" }, health_status: "ok" }));
    expect(cluster).not.toEqual(lb);
    near(entityColour(e("deployment", { attrs: { replicas: 4, ready_replicas: 2 } })), COLOURS.amber);
    const quiet = entityColour(e("nats_subject", { custom_metrics: { msgs_per_sec: 0 } }));
    const busy = entityColour(e("nats_subject", { custom_metrics: { msgs_per_sec: 5000 } }));
    expect(busy[0]).toBeGreaterThan(quiet[0]);
    near(entityColour(e("database", { custom_metrics: { pool_percent: 100 } })), COLOURS.red);
    const now = 1_800_000_000;
    const young = entityColour(e("configmap", { created_at: now }), now);
    const old = entityColour(e("configmap", { created_at: now - 90 * 86400 }), now);
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
