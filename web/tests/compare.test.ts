import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { describeChange } from "../src/panels/format";
import { knownAt } from "../src/state/compare";

// A /api/infra/topology/diff answer recorded from `gestalt demo`: a ConfigMap whose attrs
// changed, a container whose attrs, health and reasons changed.
const diff = JSON.parse(readFileSync(new URL("./fixtures/topology-diff.json", import.meta.url), "utf8"));
const changed = diff.entities.changed as Record<string, Record<string, [unknown, unknown]>>;
const line = (id: string) =>
  Object.entries(changed[id]).map(([f, [a, b]]) => describeChange(f, a, b)).join("; ");

describe("compare: what changed", () => {
  it("names the attributes that differ, with both values", () => {
    expect(line("configmap:kubesim/data/billing-config")).toBe("attrs.reference_count: 3 → 4");
  });

  it("shows plain fields and lists, and nothing as a dash", () => {
    const text = line("container:53f94d83bace");
    expect(text).toContain("attrs.restart_count: 0 → 2");
    expect(text).toContain("health_status: ok → warning");
    expect(text).toContain('health_reasons: – → ["restarted 2 times in the last 10 minutes"]');
    expect(text).not.toContain("[object Object]");
  });
});

describe("compare: a ghost is asked about as it was", () => {
  const removedId = (diff.entities.removed[0] ?? { id: "container:gone" }).id as string;
  const withRemoved = { ...diff, entities: { ...diff.entities, removed: [{ id: removedId, name: "gone", kind: "container" }] } };
  it("at the earlier moment, since the server has nothing of it at the later one", () => {
    expect(knownAt(removedId, withRemoved.to, withRemoved)).toBe(withRemoved.from);
  });
  it("and anything else at the moment shown", () => {
    expect(knownAt("configmap:kubesim/data/billing-config", withRemoved.to, withRemoved)).toBe(withRemoved.to);
    expect(knownAt(removedId, withRemoved.to - 60, withRemoved)).toBe(withRemoved.to - 60);
    expect(knownAt(removedId, null, withRemoved)).toBeNull();
  });
});
