// labelling.ts imports three (for projection) but placement itself is plain geometry.
import { describe, expect, it } from "vitest";
import { type LabelWish, placeLabels } from "../src/scene/labelling";

const measure = (text: string) => text.length * 7;
const wish = (id: string, x: number, y: number, kind: LabelWish["kind"], extra: Partial<LabelWish> = {}): LabelWish => ({ id, text: id, x, y, kind, ...extra });

describe("placeLabels", () => {
  it("never overlaps two labels, and keeps them on the canvas", () => {
    const wishes: LabelWish[] = [];
    for (let i = 0; i < 60; i++) wishes.push(wish(`entity-${i}`, 400 + (i % 7) * 9, 300 + Math.floor(i / 7) * 8, i < 5 ? "critical" : "near"));
    wishes.push(wish("edge-of-canvas", 2, 2, "group"));
    const placed = placeLabels(wishes, 800, 600, measure);
    for (const p of placed) {
      expect(p.left).toBeGreaterThanOrEqual(0);
      expect(p.top).toBeGreaterThanOrEqual(0);
      expect(p.left + p.width).toBeLessThanOrEqual(800);
      expect(p.top + p.height).toBeLessThanOrEqual(600);
      for (const q of placed) {
        if (p === q) continue;
        const apart = p.left + p.width <= q.left || q.left + q.width <= p.left || p.top + p.height <= q.top || q.top + q.height <= p.top;
        expect(apart, `${p.id} / ${q.id}`).toBe(true);
      }
    }
    expect(placed.some((p) => p.id === "edge-of-canvas")).toBe(true);
  });

  it("places the most important first and never drops a critical entity", () => {
    // Five criticals on one spot: one label names them all.
    const wishes = [0, 1, 2, 3, 4].map((i) => wish(`crit-${i}`, 300 + i, 300, "critical"));
    const placed = placeLabels([wish("sel", 300, 300, "selected"), ...wishes, wish("near", 300, 300, "near")], 800, 600, measure);
    expect(placed[0].id).toBe("sel");
    const named = new Set(placed.flatMap((p) => p.ids));
    for (let i = 0; i < 5; i++) expect(named.has(`crit-${i}`)).toBe(true);
    expect(placed.some((p) => p.id === "near")).toBe(false);
    const merged = placed.find((p) => p.ids.length > 1)!;
    expect(merged.text).toMatch(/\+\d+$/);
  });

  it("puts layer titles left of their layer", () => {
    const [title] = placeLabels([wish("Pods · 12", 300, 200, "group", { side: "left" })], 800, 600, measure);
    expect(title.left + title.width).toBeLessThanOrEqual(300);
  });
  it("finds a ring's title a place anywhere around the ring when critical labels crowd its extremes", () => {
    // A ring centred at (500, 400), radius 200 on screen: four critical labels on each of its
    // top, bottom and sides take every spot there; the points between are free.
    const ring = Array.from({ length: 16 }, (_, k) => ({ x: 500 + Math.cos((k / 16) * Math.PI * 2) * 200, y: 400 + Math.sin((k / 16) * Math.PI * 2) * 200 }));
    const extremes = [{ x: 500, y: 200 }, { x: 500, y: 600 }, { x: 300, y: 400 }, { x: 700, y: 400 }];
    const blockers = extremes.flatMap(({ x, y }) => [0, 1, 2, 3].map((k) => wish(`crit-${x}-${y}-${k}`.padEnd(14, "x"), x, y, "critical")));
    const [top, ...others] = extremes;
    const title = wish("payments", top.x, top.y, "group", { alternatives: [...others, ...ring] });
    const placed = placeLabels([...blockers, title], 1000, 800, measure);
    expect(placed.flatMap((p) => p.ids).filter((id) => id.startsWith("crit"))).toHaveLength(16);
    const box = placed.find((p) => p.id === "payments");
    expect(box).toBeDefined();
    // Beside the ring, not on top of a critical label.
    expect(Math.hypot(box!.left + box!.width / 2 - 500, box!.top + box!.height / 2 - 400)).toBeGreaterThan(150);
  });
});
