// Fetching a small JSON answer off the page's main thread. While scrubbing, the main
// thread is full (the map drawn in software, frame after frame), and each step of a fetch
// there (the response, its body, the parse) waited for a frame to end: a moment's change
// of 3 kB took 260 ms to arrive from a server that answered in 20. In a worker the whole
// fetch costs the main thread one message. (Not for large answers: copying a whole
// topology to the main thread costs about what parsing it there does.)
import type { FetchAnswer, FetchRequest } from "./fetchWorker";

export interface Fetched { ok: boolean; status: number; body: unknown }

let worker: Worker | null = null;
let last = 0;
const waiting = new Map<number, { resolve: (answer: Fetched) => void; reject: (error: Error) => void }>();

function started(): Worker {
  if (worker) return worker;
  worker = new Worker(new URL("./fetchWorker.ts", import.meta.url), { type: "module" });
  worker.onmessage = (ev: MessageEvent<FetchAnswer>) => {
    const { id, error, ...answer } = ev.data;
    const waiter = waiting.get(id);
    waiting.delete(id);
    if (error !== undefined) waiter?.reject(new Error(error));
    else waiter?.resolve(answer);
  };
  return worker;
}

/** `url`'s answer, fetched and parsed in a worker (here where there are no workers). */
export function fetchOffThread(url: string): Promise<Fetched> {
  if (typeof Worker === "undefined") return fetchHere(url);
  const id = ++last;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    started().postMessage({ id, url: new URL(url, window.location.origin).href } satisfies FetchRequest);
  });
}

export async function fetchHere(url: string): Promise<Fetched> {
  const response = await fetch(url);
  const body: unknown = response.ok ? await response.json() : await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}
