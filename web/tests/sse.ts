// Reads a recorded SSE stream (tests/fixtures/*.sse, captured from `gestalt serve`).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Delta, Topology } from "../src/api/types";

export interface Frame { event: string; id: string | null; data: string }

export function readFrames(name: string): Frame[] {
  const text = readFileSync(join(__dirname, "fixtures", name), "utf8");
  const frames: Frame[] = [];
  for (const block of text.split(/\n\n/)) {
    let event = "message", id: string | null = null;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("id: ")) id = line.slice(4);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    if (data.length) frames.push({ event, id, data: data.join("\n") });
  }
  return frames;
}

/** A recorded topology stream: its snapshot and its deltas, in order. */
export function readStream(name: string): { snapshot: Topology; deltas: Delta[] } {
  const frames = readFrames(name);
  return {
    snapshot: JSON.parse(frames.find((f) => f.event === "snapshot")!.data) as Topology,
    deltas: frames.filter((f) => f.event === "delta").map((f) => JSON.parse(f.data) as Delta),
  };
}

/** A deep copy (the graph store keeps and changes the objects it is given). */
export const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
