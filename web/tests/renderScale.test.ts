import { describe, expect, it } from "vitest";
import { RenderScale, cameraMoved } from "../src/scene/renderScale";

/** Draws `frames` moving frames `every` ms apart from `start`; returns the time after. */
function move(scale: RenderScale, start: number, frames: number, every: number): number {
  let t = start;
  for (let i = 0; i < frames; i++) {
    t += every;
    scale.scale(true, t);
    scale.drawn(t);
  }
  return t;
}

describe("RenderScale", () => {
  it("lowers the resolution of moving frames while they come slower than 42 a second, down to half", () => {
    const scale = new RenderScale(true);
    expect(scale.scale(true, 0)).toBe(1);
    let t = move(scale, 0, 12, 40); // 25 fps for half a second
    expect(scale.scale(true, t)).toBeLessThan(1);
    t = move(scale, t, 200, 40);
    expect(scale.scale(true, t)).toBe(0.5);
    // At rest the map is drawn at full resolution, whatever the pace of the last move...
    expect(scale.scale(false, t + 500)).toBe(1);
  });

  it("holds the lower resolution through a short pause of the camera", () => {
    const scale = new RenderScale(true);
    const t = move(scale, 0, 60, 40);
    const low = scale.scale(true, t);
    expect(low).toBeLessThan(1);
    // (a framing that follows the layout moves in steps: each switch would resize the canvas)
    expect(scale.scale(false, t + 100)).toBe(low);
    expect(scale.scale(false, t + 399)).toBe(low);
    expect(scale.scale(false, t + 400)).toBe(1);
  });

  it("raises it again when frames come fast, and keeps what it learnt for the next move", () => {
    const scale = new RenderScale(true);
    let t = move(scale, 0, 60, 40);
    const low = scale.scale(true, t);
    expect(low).toBeLessThan(1);
    t += 5000; // the camera rested; a new move starts at the scale the last one ended with
    expect(scale.scale(true, t)).toBe(low);
    t = move(scale, t, 200, 16.7); // a 60 Hz pace
    expect(scale.scale(true, t)).toBe(1);
  });

  it("stays put between 42 and 55 frames a second, and ignores the gap before a move", () => {
    const scale = new RenderScale(true);
    let t = move(scale, 0, 100, 21);
    expect(scale.scale(true, t)).toBe(1);
    t = move(scale, t + 2000, 1, 21); // the first frame after a rest is not a slow one
    expect(scale.scale(true, t)).toBe(1);
  });

  it("never changes the scale with a GPU", () => {
    const scale = new RenderScale(false);
    const t = move(scale, 0, 200, 100);
    expect(scale.scale(true, t)).toBe(1);
  });
});

describe("cameraMoved", () => {
  it("tells a move from the controls' damping, which goes on for seconds in sub-pixel steps", async () => {
    const THREE = await import("three");
    const camera = new THREE.PerspectiveCamera(50, 1.5, 0.5, 30000);
    camera.position.set(0, 140, 360);
    camera.lookAt(0, 0, 0);
    const last = new Float32Array(7);
    const distance = camera.position.length();
    expect(cameraMoved(camera, last, distance)).toBe(true); // from nothing
    expect(cameraMoved(camera, last, distance)).toBe(false); // still
    camera.position.x += distance * 0.00001; // a damping step: a hundredth of a pixel
    expect(cameraMoved(camera, last, distance)).toBe(false);
    camera.position.x += 2; // a drag
    camera.lookAt(0, 0, 0);
    expect(cameraMoved(camera, last, distance)).toBe(true);
  });
});
