import { describe, expect, it } from "vitest";
import type { Entity, SourceStatus } from "../src/api/types";
import { LayoutEngine } from "../src/layout/engine";
import { groupTitle, indexNamespaces, layoutGroup, layoutGroups, namespaceKey, siteKey } from "../src/state/groups";
import { mergeSites, siteState } from "../src/state/sites";

const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

describe("sites", () => {
  it("says a site's state from its details", () => {
    const status: SourceStatus = {
      name: "site:east", state: "degraded", reason: "refused 2 messages (last: schema)",
      details: { connected: true, silent: false, lag_seconds: 0.25, lag_versions: 3, last_keyframe: 3600,
        agent_dropped: 12, rejected: 2, last_rejected: "schema" },
    };
    const s = siteState(status, clock);
    expect(s.name).toBe("east");
    expect(s.words).toEqual(["agent connected", "lag 0.3 s / 3 versions", "keyframe 01:00:00",
      "12 dropped by the agent", "2 refused (schema)"]);
  });

  it("a silent site says so, and a site without details is not connected", () => {
    expect(siteState({ name: "site:w", state: "down", details: { connected: true, silent: true } }, clock).words[0])
      .toBe("agent silent");
    expect(siteState({ name: "site:w", state: "starting" }, clock).words).toEqual(["not connected"]);
  });

  it("a site whose agent the NATS server refuses says refused, and why", () => {
    const s = siteState({ name: "site:west", state: "down", reason: "agent a-1 refused by NATS: ...",
      details: { connected: true, silent: true, refused: true,
        refused_reason: "credentials of user 'west' refused (Authentication Failure)" } }, clock);
    expect(s.label).toBe("refused");
    expect(s.words[0]).toBe("agent refused by NATS: credentials of user 'west' refused (Authentication Failure)");
    expect(s.words).not.toContain("agent silent");
    const earlier = siteState({ name: "site:west", state: "ok", details: { connected: true, refused: false,
      refused_reason: "old news" } }, clock);
    expect(earlier.label).toBe("ok");
    expect(earlier.words[0]).toBe("agent connected");
  });

  it("keeps the stream's state and takes the polled details", () => {
    const live: SourceStatus[] = [{ name: "docker", state: "ok" }, { name: "site:a", state: "down", details: { lag_seconds: 9 } }];
    const polled: SourceStatus[] = [{ name: "site:a", state: "ok", details: { lag_seconds: 1 } }];
    expect(mergeSites(live, polled)).toEqual([{ name: "site:a", state: "down", details: { lag_seconds: 1 } }]);
  });

  it("names an entity's site by its agent, its kube context, else local", () => {
    const e = (sources: string[]) => ({ id: "pod:x/y/z", kind: "pod", name: "z", sources }) as unknown as Entity;
    expect(siteKey(e(["site:east"]))).toBe("east");
    expect(siteKey(e(["kubernetes:prod"]))).toBe("prod");
    expect(siteKey(e(["docker"]))).toBe("local");
  });

  it("By site pulls each site's nodes together, apart from the others", () => {
    const engine = new LayoutEngine();
    const nodes = Array.from({ length: 40 }, (_, i) => ({ id: `n${i}`, group: "ns", kind: "pod", site: i % 2 ? "east" : "west" }));
    engine.sync({ addNodes: nodes, removeNodes: [], addLinks: [], removeLinks: [] });
    engine.setPreset("site");
    for (let i = 0; i < 2000 && engine.tick(); i++);
    const centre = (site: string) => {
      const ps = nodes.filter((n) => n.site === site).map((n) => engine.position(n.id)!);
      return [0, 1, 2].map((k) => ps.reduce((a, p) => a + p[k], 0) / ps.length);
    };
    const [east, west] = [centre("east"), centre("west")];
    const apart = Math.hypot(east[0] - west[0], east[2] - west[2]);
    const spread = Math.max(...nodes.filter((n) => n.site === "east").map((n) => {
      const p = engine.position(n.id)!;
      return Math.hypot(p[0] - east[0], p[2] - east[2]);
    }));
    expect(apart).toBeGreaterThan(spread);
  });
});

describe("namespaces of several clusters", () => {
  it("keys a namespace by its cluster: shop of east is not shop of west", () => {
    expect(namespaceKey("namespace:east/shop", "shop")).not.toBe(namespaceKey("namespace:west/shop", "shop"));
    expect(namespaceKey("pod:east/shop/web-1", "shop")).toBe(namespaceKey("namespace:east/shop", "shop"));
    const index = indexNamespaces([["namespace:east/shop", "shop", 1], ["namespace:west/shop", "shop", 2]]);
    expect(index.get(namespaceKey("pod:west/shop/a", "shop"))).toBe(2);
    expect(index.get(namespaceKey("container:0123456789ab", "shop"))).toBe(1); // no cluster in the id
    // "By namespace" and the rings' titles: two clusters' shop are two groups, each titled.
    const east = layoutGroup({ id: "pod:east/shop/web-1", kind: "pod", name: "web-1", namespace: "shop" } as never);
    const west = layoutGroup({ id: "namespace:west/shop", kind: "namespace", name: "shop" } as never);
    expect(east).not.toBe(west);
    expect(layoutGroup({ id: "container:0123456789ab", kind: "container", name: "web", namespace: "shop", attrs: { cluster: "west" } } as never)).toBe(west);
    expect([groupTitle(east, new Map()), groupTitle(west, new Map())]).toEqual(["shop · east", "shop · west"]);
    // What names a namespace but no cluster (a traced service) joins the first cluster's.
    const groupOf = layoutGroups([{ id: "namespace:west/shop", kind: "namespace", name: "shop" } as never]);
    expect(groupOf({ id: "service:otel/shop/checkout", kind: "service", name: "checkout", namespace: "shop" } as never)).toBe(west);
    // Code Mode groups by repository: its ids name no cluster.
    const code = layoutGroups([]);
    expect(new Set(["repository:shop", "package:shop/api/v1", "module:shop/api/v1/main.py"]
      .map((id) => code({ id, kind: "module", name: "x", namespace: "shop" } as never)))).toEqual(new Set(["shop"]));
    // A pod's container names its cluster in attrs (its id is the runtime's).
    expect(index.get(namespaceKey("container:0123456789ab", "shop", "west"))).toBe(2);
  });
});
