import { describe, expect, it } from "vitest";
import type { Entity, HealthStatus } from "../src/api/types";
import { countHealth, headline, healthyPercent } from "../src/state/health";

const many = (status: HealthStatus, n: number, kind: Entity["kind"] = "pod", health = 0.99): Entity[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${status}-${kind}-${i}`, kind, name: "x", health_status: status, health }));

describe("health headline", () => {
  it("leads with the worst state, never a fine-looking score while things are critical", () => {
    // The demo's numbers: 18 critical and 36 warning among 540, scores averaging 0.98.
    const { all, byKind } = countHealth([...many("ok", 486), ...many("warning", 36), ...many("critical", 18, "container")]);
    expect(headline(all)).toEqual({ state: "critical", count: 18 });
    expect(healthyPercent(all)).toBe(90);
    expect(byKind.get("container")).toMatchObject({ total: 18, critical: 18 });
    expect(headline(countHealth(many("warning", 2)).all)).toEqual({ state: "warning", count: 2 });
    expect(headline(countHealth(many("ok", 5)).all)).toEqual({ state: "ok", count: 5 });
  });

  it("counts stale entities as unknown and leaves them out of the percentage", () => {
    const stale = { ...many("critical", 1)[0], stale: true };
    const { all } = countHealth([stale, ...many("ok", 3)]);
    expect(all).toMatchObject({ unknown: 1, critical: 0, ok: 3 });
    expect(healthyPercent(all)).toBe(100);
    expect(healthyPercent(countHealth([]).all)).toBeNull();
  });
});
