import { describe, expect, it } from "vitest";
import { timeFromUrl } from "../src/state/time";

// What `?t=` accepts is what the server's `at=` accepts (engine/past.py parse_moment).
describe("?t= in a shared link", () => {
  it("reads epoch seconds and RFC 3339 with a zone", () => {
    expect(timeFromUrl("?t=1795940100")).toEqual({ at: 1795940100 });
    expect(timeFromUrl("?t=1795940100.5")).toEqual({ at: 1795940100.5 });
    expect(timeFromUrl("?t=2026-11-30T08:15:00Z")).toEqual({ at: Date.UTC(2026, 10, 30, 8, 15) / 1000 });
    expect(timeFromUrl("?t=2026-11-30T08:15:00.250Z")).toEqual({ at: Date.UTC(2026, 10, 30, 8, 15) / 1000 + 0.25 });
    expect(timeFromUrl(`?t=${encodeURIComponent("2026-11-30T09:15+01:00")}`)).toEqual({ at: Date.UTC(2026, 10, 30, 8, 15) / 1000 });
  });

  it("says why a value is not a moment, naming it", () => {
    expect(timeFromUrl("?t=yesterday")).toEqual({ bad: "yesterday", why: expect.stringContaining("RFC 3339") });
    expect(timeFromUrl("?t=-15m")).toMatchObject({ bad: "-15m" });
    expect(timeFromUrl("?t=2026-11-30T08:15:00")).toMatchObject({ why: expect.stringContaining("time zone") });
    expect(timeFromUrl("?t=2026-02-30T08:15:00Z")).toMatchObject({ bad: "2026-02-30T08:15:00Z" });
  });

  it("is nothing when absent or empty", () => {
    expect(timeFromUrl("?layout=namespace")).toBeNull();
    expect(timeFromUrl("?t=")).toBeNull();
  });
});
