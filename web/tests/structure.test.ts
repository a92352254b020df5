// The web UI's layout rules (docs/architecture.md, "Web UI"): state/ knows nothing of how
// data arrives (live/), and no TypeScript file grows past 500 lines.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(__dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

describe("web/src layout", () => {
  it("state/ imports nothing from live/, scene/ or panels/", () => {
    const offenders = files(join(SRC, "state")).filter((path) =>
      /from\s+["']\.\.\/(live|scene|panels)\//.test(readFileSync(path, "utf8")));
    expect(offenders.map((p) => relative(SRC, p))).toEqual([]);
  });

  it("no TypeScript file is over 500 lines", () => {
    const long = files(SRC)
      .map((path) => ({ path: relative(SRC, path), lines: readFileSync(path, "utf8").split("\n").length }))
      .filter((f) => f.lines > 500);
    expect(long).toEqual([]);
  });
});
