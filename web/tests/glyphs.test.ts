import { describe, expect, it } from "vitest";
import { outputColour } from "../src/scene/glyphs";

describe("glyph colours", () => {
  it("tone-map and encode like the page: black stays black, brighter stays brighter, within 0..1", () => {
    expect(outputColour([0, 0, 0]).every((c) => Math.abs(c) < 0.01)).toBe(true);
    let last = -1;
    for (let v = 0.05; v <= 4; v *= 1.5) {
      const [r, g, b] = outputColour([v, v, v]);
      expect(r).toBeGreaterThan(last);
      expect(Math.abs(r - g) + Math.abs(g - b)).toBeLessThan(0.03); // grey stays grey
      expect(r).toBeLessThanOrEqual(1);
      last = r;
    }
    // ACES maps linear 1.0 well below white, and saturates bright input.
    expect(outputColour([1, 1, 1])[0]).toBeGreaterThan(0.75);
    expect(outputColour([1, 1, 1])[0]).toBeLessThan(0.95);
  });

  it("keeps a health colour's hue", () => {
    const [r, g, b] = outputColour([0.94, 0.27, 0.27]); // red
    expect(r).toBeGreaterThan(g + 0.2);
    expect(r).toBeGreaterThan(b + 0.2);
  });
});
