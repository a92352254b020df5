// The main thread's side of the layout worker: sends what changed in the view, keeps the
// latest positions and an id -> index map for the scene to read every frame.
import type { View } from "../state/view";
import type { LayoutPreset } from "../state/url";
import type { ViewChanges } from "../state/viewUpdate";
import { LayoutMirror } from "./mirror";
import { applyOrder } from "./order";
import type { LayoutRequest, LayoutResponse } from "./worker";
import { toWire } from "./wire";

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export class LayoutClient {
  ids: string[] = [];
  positions: Float32Array = new Float32Array(0);
  index = new Map<string, number>();
  /** Bumped on every message: the scene re-reads positions when it changes. */
  revision = 0;
  /** The simulation's alpha, 1 while a request is not answered yet (the layout is at rest
   * under 0.005 only once it has taken in every change sent). */
  alpha = 1;
  private sent = 0;
  private readonly worker: Worker;
  /** What the worker holds: a sync sends only the difference. */
  private readonly mirror = new LayoutMirror();

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (ev: MessageEvent<LayoutResponse>) => {
      const { ids, order, positions, alpha, seq } = ev.data;
      const next = ids ?? (order && applyOrder(this.ids, order));
      if (next) {
        this.ids = next;
        // (A loop: a Map from 10,000 [id, i] pairs allocated each one first.)
        const index = new Map<string, number>();
        for (let i = 0; i < next.length; i++) index.set(next[i], i);
        this.index = index;
      }
      this.positions = positions;
      this.alpha = seq === this.sent ? alpha : 1;
      this.revision += 1;
    };
  }

  private send(request: DistributiveOmit<LayoutRequest, "seq">): void {
    this.sent += 1;
    this.alpha = 1;
    this.worker.postMessage({ ...request, seq: this.sent });
  }

  /** Sends what changed in the view (`changes`: what the view builder says changed; null:
   * compare the whole view). */
  sync(view: View, changes: ViewChanges | null = null): void {
    const change = this.mirror.diff(view, changes);
    if (change) this.send({ type: "sync", change: toWire(change) });
  }

  setPreset(preset: LayoutPreset): void {
    this.send({ type: "preset", preset });
  }

  /** Writes the position of `id` into `out`; false when the worker has not placed it yet. */
  read(id: string, out: { x: number; y: number; z: number }): boolean {
    const i = this.index.get(id);
    if (i === undefined || i * 3 + 2 >= this.positions.length) return false;
    out.x = this.positions[i * 3];
    out.y = this.positions[i * 3 + 1];
    out.z = this.positions[i * 3 + 2];
    return true;
  }
}
