// The layout's Web Worker: keeps the simulation off the main thread and posts positions
// (a transferable Float32Array) as it moves; node order is sent only when it changes.
import { LayoutEngine } from "./engine";
import type { LayoutPreset } from "../state/url";
import { type OrderChange, worthSending } from "./order";
import { type WireSync, fromWire } from "./wire";

export type LayoutRequest = { seq: number } & (
  | { type: "sync"; change: WireSync }
  | { type: "preset"; preset: LayoutPreset });

export interface LayoutResponse {
  orderVersion: number;
  /** The whole node order, or (`order`) its change from the last one sent. */
  ids?: string[];
  order?: OrderChange;
  positions: Float32Array;
  alpha: number;
  /** The last request handled: the positions answer it and all before it. */
  seq: number;
}

const engine = new LayoutEngine();
let sentOrder = -1;
let running = false;
let handled = 0;
let unsent = false; // positions moved since the last post
let lastPost = -Infinity;
/** Positions go out at most 30 times a second, and less often on big maps: each post makes
 * the page rewrite its buffers (about 12 ms of its main thread at 10,000 nodes), and a map
 * that big is ticked faster than that (layout/engine.ts). */
const postInterval = () => Math.max(33, engine.nodes.size / 80);

function post(): void {
  const positions = engine.positions();
  const message: LayoutResponse = { orderVersion: engine.orderVersion, positions, alpha: engine.alpha, seq: handled };
  if (sentOrder !== engine.orderVersion) {
    // Each sync is answered at once, so the page holds the order before the last sync.
    const change = engine.lastOrderChange;
    if (sentOrder === engine.orderVersion - 1 && worthSending(change, engine.nodes.size)) message.order = change;
    else message.ids = engine.ids();
    sentOrder = engine.orderVersion;
  }
  (self as unknown as Worker).postMessage(message, [positions.buffer]);
  unsent = false;
  lastPost = performance.now();
}

function loop(): void {
  // A time slice per turn: big graphs tick once, small ones several times.
  const start = performance.now();
  let moved = false;
  do moved = engine.tick() || moved;
  while (moved && performance.now() - start < 12 && engine.alpha >= 0.005);
  // Each post makes the page rewrite its buffers: none when nothing moved; the last
  // positions always go out once the layout rests.
  unsent ||= moved;
  const hot = moved && engine.alpha >= 0.005;
  if (unsent && (!hot || performance.now() - lastPost >= postInterval())) post();
  // Rest as long as we worked: the layout takes at most half a core, leaving the rest to
  // the page (and to software rendering where there is no GPU); while it only settles a
  // few changes (low alpha), a quarter.
  const work = performance.now() - start;
  const rest = engine.alpha < 0.1 ? work * 3 : work;
  if (hot) setTimeout(loop, Math.max(4, rest, 33 - work));
  else running = false;
}

function kick(): void {
  if (running) return;
  running = true;
  setTimeout(loop, 0);
}

self.onmessage = (ev: MessageEvent<LayoutRequest>) => {
  const request = ev.data;
  if (request.type === "sync") engine.sync(fromWire(request.change));
  else engine.setPreset(request.preset);
  // Answer at once: a sync changes the order, and may have placed newcomers (a local
  // settle); the page learns that its request was handled.
  handled = request.seq;
  post();
  kick();
};
