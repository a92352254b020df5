// The exported picture's words and label order; the drawing itself is checked on real
// pixels by tests/e2e/test_png_export.py.
import { describe, expect, it } from "vitest";
import type { LabelItem } from "../src/scene/labelling";
import { caption, stackingOrder, utcStamp } from "../src/scene/mapPicture";

const health = (c: Partial<Record<"ok" | "warning" | "critical" | "unknown", number>>) => {
  const counts = { ok: 0, warning: 0, critical: 0, unknown: 0, ...c };
  return { ...counts, total: counts.ok + counts.warning + counts.critical + counts.unknown };
};
const AT = Date.UTC(2026, 10, 30, 8, 15, 0) / 1000 + 0.75;

describe("caption", () => {
  it("names the site, the moment in UTC to the second, and the counts worst first", () => {
    const text = caption({ site: "prod-eu", at: AT, source: { kind: "past" }, health: health({ ok: 40, warning: 3, critical: 2, unknown: 1 }) });
    expect(text.title).toBe("prod-eu");
    expect(text.moment).toBe("2026-11-30T08:15:00Z (past moment)");
    expect(text.counts).toEqual([
      { text: "2 critical", state: "critical" }, { text: "3 warning", state: "warning" },
      { text: "40 healthy", state: "ok" }, { text: "1 unknown", state: "unknown" },
      { text: "46 entities", state: "total" },
    ]);
  });

  it("says live or which snapshot, and leaves out states nothing is in", () => {
    expect(caption({ site: "s", at: AT, source: { kind: "live" }, health: health({ ok: 1 }) })).toEqual({
      title: "s", moment: "2026-11-30T08:15:00Z (live)",
      counts: [{ text: "1 healthy", state: "ok" }, { text: "1 entity", state: "total" }],
    });
    expect(caption({ site: "s", at: AT, source: { kind: "snapshot", file: "incident.json" }, health: health({}) }).moment)
      .toBe("2026-11-30T08:15:00Z (snapshot incident.json)");
  });

  it("stamps as the export file names do, whole seconds", () => {
    expect(utcStamp(0)).toBe("1970-01-01T00:00:00Z");
    expect(utcStamp(AT)).toBe("2026-11-30T08:15:00Z");
  });
});

describe("stackingOrder", () => {
  const item = (id: string, kind: LabelItem["kind"]): LabelItem =>
    ({ id, text: id, x: 0, y: 0, kind, ids: [id], left: 0, top: 0, width: 10, height: 20 });

  it("draws as the page stacks: the rest in order, then critical, then selected and hovered", () => {
    const labels = [item("sel", "selected"), item("g", "group"), item("c1", "critical"), item("n", "near"), item("h", "hovered"), item("c2", "critical")];
    expect(stackingOrder(labels).map((l) => l.id)).toEqual(["g", "n", "c1", "c2", "sel", "h"]);
  });
});
