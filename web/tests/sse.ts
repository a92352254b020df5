// Reads a recorded SSE stream (tests/fixtures/*.sse, captured from `gestalt serve`).
import { readFileSync } from "node:fs";
import { join } from "node:path";

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
