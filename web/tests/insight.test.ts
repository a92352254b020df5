import { describe, expect, it } from "vitest";
import type { Connection, Entity, Topology } from "../src/api/types";
import { costColour, costMax, money } from "../src/state/insight";
import { EMPTY_FILTERS } from "../src/state/url";
import { buildView } from "../src/state/view";
import { readFrames } from "./sse";

const snapshot = JSON.parse(readFrames("topology-stream.sse").find((f) => f.event === "snapshot")!.data) as Topology;
const entities = new Map<string, Entity>(snapshot.entities.map((e) => [e.id, e]));
const edges = new Map<string, Connection>(snapshot.connections.map((c) => [c.id, c]));

describe("unusual now and cost colours", () => {
  it("shows only the unusual entities, and the edges between them", () => {
    const pods = snapshot.entities.filter((e) => e.kind === "pod").slice(0, 3).map((e) => e.id);
    const view = buildView(entities, edges, EMPTY_FILTERS, 10000, new Set(), new Set(pods));
    expect(view.nodes.map((n) => n.id).sort()).toEqual([...pods].sort());
    expect(buildView(entities, edges, EMPTY_FILTERS, 10000, new Set(), new Set()).nodes).toHaveLength(0);
  });

  it("colours cheap to dear on a log scale; no figure is grey", () => {
    const costs = { a: { cost: 0.001, waste: 0 }, b: { cost: 0.1, waste: 0.05 } };
    expect(costMax(costs, "cost")).toBe(0.1);
    expect(costMax(costs, "waste")).toBe(0.05);
    const cheap = costColour(0.001, 0.1);
    const dear = costColour(0.1, 0.1);
    [1.0, 0.42, 0.18].forEach((c, i) => expect(dear[i]).toBeCloseTo(c, 9));
    expect(cheap[0]).toBeLessThan(dear[0]);
    expect(costColour(undefined, 0.1)).toEqual([0.35, 0.38, 0.45]);
    expect(money(0.0225, "USD")).toBe("16.43 USD/mo");
  });
});
