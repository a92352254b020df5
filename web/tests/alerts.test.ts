import { describe, expect, it } from "vitest";
import type { Alert } from "../src/api/types";
import { groupIncidents, ruleTitle } from "../src/state/alerts";

const owns: Record<string, string> = {
  "container:c1": "pod:k/shop/api-1", "pod:k/shop/api-1": "replicaset:k/shop/api-7", "replicaset:k/shop/api-7": "deployment:k/shop/api",
  "deployment:k/shop/api": "namespace:k/shop", "process:vm/1": "node:host/vm",
};
const kinds = (id: string) => id.slice(0, id.indexOf(":"));
let n = 0;
const alert = (entity: string, rule: string, severity: Alert["severity"], state = "firing"): Alert => ({
  id: `a${n++}`, rule, entity_id: entity, severity, state, message: rule, started_at: n, updated_at: n,
});

describe("groupIncidents", () => {
  it("makes one incident of the alerts a crash loop raises up its owners", () => {
    const alerts = [
      alert("container:c1", "crash_loop", "critical"), alert("pod:k/shop/api-1", "crash_loop", "critical"),
      alert("replicaset:k/shop/api-7", "unavailable_replicas", "warning"), alert("deployment:k/shop/api", "unavailable_replicas", "warning"),
      alert("process:vm/1", "cpu", "warning", "pending"), alert("node:host/vm", "cpu", "critical", "pending"),
      alert("service:k/shop/web", "error_rate", "warning"), alert("pod:k/shop/old", "crash_loop", "critical", "resolved"),
    ];
    const incidents = groupIncidents(alerts, (id) => owns[id], kinds, { crash_loop: "Crash-looping", unavailable_replicas: "Replicas unavailable" });
    expect(incidents.map((i) => [i.root, i.severity, i.state])).toEqual([
      ["deployment:k/shop/api", "critical", "firing"],
      ["service:k/shop/web", "warning", "firing"],
      ["node:host/vm", "critical", "pending"],
      ["process:vm/1", "warning", "pending"],
    ]);
    expect(incidents[0].alerts).toHaveLength(4);
    expect(incidents[0].titles).toEqual(["Crash-looping", "Replicas unavailable"]);
  });

  it("titles rules it has no title for in words", () => {
    expect(ruleTitle("unavailable_replicas", {})).toBe("Unavailable replicas");
    expect(ruleTitle("cpu", { cpu: "CPU" })).toBe("CPU");
  });
});
