// Software WebGL pays for every pixel it draws, and a software compositor copies every frame
// whole: while the camera moves (when every frame must be drawn) and frames come slower
// than the target, the map is drawn at a lower resolution, down to half; once the camera
// rests the next frame is drawn at full resolution again. The eye forgives a softer picture
// in motion, not a stutter; 3D viewers commonly do the same. With a GPU the scale stays 1.
import type * as THREE from "three";

/** Frames while the camera moves: 50 a second (an interval of 20 ms) is smooth enough. */
const TARGET_MS = 1000 / 50;
const STEP = 0.1;
/** A longer gap between frames is a new move, not its pace. */
const NEW_MOVE_MS = 250;
/** After a change of scale, the pace it gives is read for this long before another. */
const SETTLE_MS = 300;
/** A camera that paused for less than this is still moving (the framing that follows a
 * settling layout moves in steps): switching resolution resizes the canvas each time. */
const HOLD_MS = 400;

export class RenderScale {
  /** The scale moving frames are drawn at, learnt from the pace of the last moves. */
  private moving = 1;
  private last = -Infinity;
  private interval = 0; // smoothed ms between moving frames
  private changed = -Infinity;
  private lastMove = -Infinity;

  constructor(private readonly enabled: boolean, private readonly min = 0.5) {}

  /** The scale (a pixel ratio) to draw the coming frame at, `now` (ms). */
  scale(cameraMoving: boolean, now: number): number {
    if (!this.enabled) return 1;
    if (cameraMoving) this.lastMove = now;
    return now - this.lastMove < HOLD_MS ? this.moving : 1;
  }

  /** A frame was drawn at `now` (ms) while the camera moved: adapt the scale to its pace. */
  drawn(now: number): void {
    if (!this.enabled) return;
    const gap = now - this.last;
    this.last = now;
    if (gap > NEW_MOVE_MS) return;
    this.interval = this.interval ? this.interval * 0.7 + gap * 0.3 : gap;
    if (now - this.changed < SETTLE_MS) return;
    // Hysteresis: lower below 42 frames a second, raise again above 55 (a 60 Hz display
    // never gives less than 16.7 ms).
    let next = this.moving;
    if (this.interval > TARGET_MS * 1.2) next = Math.max(this.min, this.moving - STEP);
    else if (this.interval < TARGET_MS * 0.9) next = Math.min(1, this.moving + STEP);
    next = Math.round(next * 100) / 100;
    if (next !== this.moving) {
      this.moving = next;
      this.changed = now;
      this.interval = 0;
    }
  }
}

/** Whether the camera moved since `last` (its position and orientation), which it updates,
 * by more than a tenth of a pixel: the controls' damping goes on for seconds in steps far
 * smaller, and a picture that still is should be drawn at full resolution. */
export function cameraMoved(camera: THREE.Camera, last: Float32Array, distance: number): boolean {
  const now = [camera.position.x, camera.position.y, camera.position.z, camera.quaternion.x, camera.quaternion.y, camera.quaternion.z, camera.quaternion.w];
  let moved = false;
  for (let k = 0; k < 7; k++) {
    if (Math.abs(last[k] - now[k]) > (k < 3 ? distance * 1e-4 : 1e-5)) moved = true;
    last[k] = now[k];
  }
  return moved;
}
