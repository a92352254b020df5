import { describe, expect, it } from "vitest";
import type { LayoutSync } from "../src/layout/engine";
import { fromWire, toWire } from "../src/layout/wire";

describe("a layout sync on the wire", () => {
  it("arrives as it was sent, optional fields absent where they were", () => {
    const change: LayoutSync = {
      addNodes: [
        { id: "deployment:c/ns/app", group: "c/ns", kind: "deployment" },
        { id: "pod:c/ns/app-1", near: "deployment:c/ns/app", group: "c/ns", kind: "pod", site: "east" },
        { id: "node:host/vm", group: "system", kind: "node", site: "west" },
      ],
      removeNodes: ["pod:c/ns/app-0"],
      addLinks: [{ id: "owns:deployment:c/ns/app->pod:c/ns/app-1", source: "deployment:c/ns/app", target: "pod:c/ns/app-1" }],
      removeLinks: ["owns:deployment:c/ns/app->pod:c/ns/app-0"],
    };
    const received = fromWire(structuredClone(toWire(change)));
    expect(received).toEqual(change);
    expect("near" in received.addNodes[0]).toBe(false);
    expect("site" in received.addNodes[0]).toBe(false);
    // Columns, not an object per node or link: what structured clone pays for.
    const wire = toWire(change);
    expect(Object.values(wire).every((column) => Array.isArray(column) && column.every((v) => v === null || typeof v === "string"))).toBe(true);
  });

  it("carries an empty change", () => {
    const empty: LayoutSync = { addNodes: [], removeNodes: [], addLinks: [], removeLinks: [] };
    expect(fromWire(structuredClone(toWire(empty)))).toEqual(empty);
  });
});
