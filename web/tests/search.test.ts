import { describe, expect, it } from "vitest";
import type { Entity, EntityKind } from "../src/api/types";
import { exactness, search, whereabouts } from "../src/state/search";

const e = (kind: EntityKind, name: string, extra: Partial<Entity> = {}): Entity => ({
  id: `${kind}:kubesim/shop/${name}`, kind, name, namespace: "shop", ...extra,
});

// What the demo holds for "checkout": the deployment, its service, replica sets, pods and
// containers (all named checkout), in two namespaces.
const world: Entity[] = [
  e("container", "checkout", { id: "container:aaa", attrs: { pod: "checkout-5f-x1" } }),
  e("container", "checkout", { id: "container:bbb", namespace: "data", attrs: { pod: "checkout-9c-y2" } }),
  e("pod", "checkout-5f-x1"),
  e("replicaset", "checkout-5f"),
  e("service", "checkout"),
  e("deployment", "checkout"),
  e("configmap", "checkout-config"),
  e("pod", "api-1", { labels: { app: "checkout-api" } }),
  e("service", "precheckout"),
];

describe("search", () => {
  it("puts the workload first, then what else is named exactly so", () => {
    const { entities, total } = search(world, "checkout");
    expect(total).toBe(world.length);
    expect(entities.map((x) => x.kind).slice(0, 4)).toEqual(["deployment", "service", "container", "container"]);
    // Exact names, then prefixes, then inside a name, then labels only.
    expect(exactness(world[6], "checkout")).toBe(1);
    expect(entities[entities.length - 1].name).toBe("precheckout");
    expect(search(world, "checkout", 100).entities.at(-1)!.name).toBe("api-1");
  });

  it("counts every match and finds nothing for nothing", () => {
    expect(search(world, "checkout", 3)).toMatchObject({ total: 9 });
    expect(search(world, "checkout", 3).entities).toHaveLength(3);
    expect(search(world, "zzz")).toEqual({ entities: [], total: 0 });
    expect(search(world, "  ")).toEqual({ entities: [], total: 0 });
  });

  it("tells rows of one name apart", () => {
    const [a, b] = [whereabouts(world[0]), whereabouts(world[1])];
    expect(a).toBe("pod checkout-5f-x1 · shop");
    expect(b).toBe("pod checkout-9c-y2 · data");
    expect(whereabouts(world[5])).toBe("shop · kubesim");
    expect(whereabouts({ id: "process:vm/12", kind: "process", name: "nats-server", sources: ["host"] })).toBe("vm");
  });
});
