// Code Mode in the view, fed with what the code source really reports (tests/fixtures/
// captured/code.json: two scanned repositories, one with an import cycle, and a process run
// from each, one connected to the other).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Connection, Entity } from "../src/api/types";
import { entitySize } from "../src/scene/mapping";
import { importCycles } from "../src/state/cycles";
import { EMPTY_FILTERS, parseUrl, toSearch } from "../src/state/url";
import { buildView, foldKey, owners } from "../src/state/view";

const path = join(__dirname, "..", "..", "tests", "fixtures", "captured", "code.json");
const capture = JSON.parse(readFileSync(path, "utf8")) as { entities: Entity[]; connections: Connection[] };
const entities = new Map(capture.entities.map((e) => [e.id, e]));
const edges = new Map(capture.connections.map((c) => [c.id, c]));
const view = (mode: "live" | "code" | "both", max = 1000) =>
  buildView(entities, edges, { ...EMPTY_FILTERS, mode }, max, new Set());

describe("Code Mode", () => {
  it("shows the running system, the code, or both with the runs-as edge between them", () => {
    const kinds = (mode: "live" | "code" | "both") => new Set(view(mode).nodes.map((n) => n.entity.kind));
    expect(kinds("live")).toEqual(new Set(["process"]));
    expect(kinds("code")).toEqual(new Set(["repository", "package", "module"]));
    expect(kinds("both")).toEqual(new Set(["process", "repository", "package", "module"]));
    const runsAs = (mode: "live" | "code" | "both") => view(mode).edges.filter((e) => e.edge.kind === "runs_as");
    expect(runsAs("code")).toEqual([]);
    expect(runsAs("both").map((e) => e.source).sort()).toEqual(["module:checkout/checkout/main.py", "module:shop/shop/server.py"]);
  });

  it("projects the traffic between what runs the code onto the repositories (Both only)", () => {
    const projected = (mode: "live" | "code" | "both") => view(mode).edges.filter((e) => e.projected);
    expect(projected("live")).toEqual([]);
    expect(projected("code")).toEqual([]);
    const [edge, ...rest] = projected("both");
    expect(rest).toEqual([]);
    expect([edge.source, edge.target, edge.edge.kind]).toEqual(["repository:checkout", "repository:shop", "network"]);
  });

  it("marks the imports of an import cycle, and only those", () => {
    const cyclic = importCycles(edges.values());
    expect([...cyclic].sort()).toEqual([
      "imports:module:shop/shop/models.py->module:shop/shop/orders.py",
      "imports:module:shop/shop/orders.py->module:shop/shop/models.py",
    ]);
    const drawn = view("code").edges.filter((e) => e.cycle).map((e) => e.id).sort();
    expect(drawn).toEqual([...cyclic].sort());
  });

  it("folds modules into their own package, not the repository", () => {
    const parent = owners(edges.values());
    expect(foldKey(entities.get("module:shop/shop/models.py")!, parent)).toBe("agg:module:package:shop/shop");
    const folded = view("code", 4);
    expect(folded.nodes.some((n) => n.id === "agg:module:package:shop/shop")).toBe(true);
  });

  it("sizes modules by their lines of code", () => {
    const server = entities.get("module:shop/shop/server.py")!;
    const orders = entities.get("module:shop/shop/orders.py")!;
    expect(Number(server.attrs?.loc)).toBeGreaterThan(Number(orders.attrs?.loc));
    expect(entitySize(server)).toBeGreaterThan(entitySize(orders));
  });

  it("keeps the mode in the URL (Live, the default, leaves it out)", () => {
    expect(parseUrl(toSearch({ ...EMPTY_FILTERS, mode: "code", selected: null, layout: null })).mode).toBe("code");
    expect(toSearch({ ...EMPTY_FILTERS, selected: null, layout: null })).toBe("");
  });
});
