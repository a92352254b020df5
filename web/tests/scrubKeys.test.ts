import { describe, expect, it } from "vitest";
import { scrubMove } from "../src/panels/scrubKeys";

// A quarter of an hour of history, the scrubber in its middle.
const START = 1_796_177_100;
const END = START + 900;
const AT = START + 450;

describe("the scrubber from the keyboard", () => {
  it("steps between recorded changes with the arrows, not by a tenth of a second", () => {
    expect(scrubMove("ArrowLeft", AT, START, END)).toEqual({ step: -1 });
    expect(scrubMove("ArrowDown", AT, START, END)).toEqual({ step: -1 });
    expect(scrubMove("ArrowRight", AT, START, END)).toEqual({ step: 1 });
    expect(scrubMove("ArrowUp", AT, START, END)).toEqual({ step: 1 });
  });

  it("moves a tenth of the span a page, within the span", () => {
    expect(scrubMove("PageDown", AT, START, END)).toEqual({ to: AT - 90 });
    expect(scrubMove("PageUp", AT, START, END)).toEqual({ to: AT + 90 });
    expect(scrubMove("PageDown", START + 10, START, END)).toEqual({ to: START });
    expect(scrubMove("PageUp", END - 10, START, END)).toEqual({ to: END });
  });

  it("goes to the oldest moment with Home and back to live with End", () => {
    expect(scrubMove("Home", AT, START, END)).toEqual({ to: START });
    expect(scrubMove("End", AT, START, END)).toEqual({ live: true });
  });

  it("leaves other keys to the browser", () => {
    expect(scrubMove("Tab", AT, START, END)).toBeNull();
    expect(scrubMove("a", AT, START, END)).toBeNull();
  });
});
