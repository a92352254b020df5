import { afterEach, describe, expect, it, vi } from "vitest";
import { URL_WRITE_MS, timeFromUrl, useTime } from "../src/state/time";

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

describe("?t= written while scrubbing", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
    useTime.setState({ at: null });
  });

  it("is written at most every URL_WRITE_MS while the moment moves, the latest always; live at once", () => {
    vi.useFakeTimers();
    const location = { pathname: "/", search: "?token=x" };
    const written: string[] = [];
    vi.stubGlobal("window", {
      location,
      history: { replaceState: (_s: unknown, _t: string, url: string) => { location.search = url.slice(1); written.push(location.search); } },
    });
    const start = 1_795_940_100;
    useTime.setState({ at: start }); // leaving live: at once
    expect(written).toEqual([`?token=x&t=${encodeURIComponent(new Date(start * 1000).toISOString())}`]);
    // A drag: 30 positions a second for a second.
    for (let i = 1; i <= 30; i++) {
      useTime.setState({ at: start - i });
      vi.advanceTimersByTime(1000 / 30);
    }
    vi.advanceTimersByTime(URL_WRITE_MS);
    expect(written.length).toBeGreaterThan(2);
    expect(written.length).toBeLessThanOrEqual(2 + 1000 / URL_WRITE_MS);
    expect(timeFromUrl(location.search)).toEqual({ at: start - 30 });
    useTime.setState({ at: start - 31 });
    useTime.setState({ at: null }); // back to live: at once, nothing pending left to write
    expect(location.search).toBe("?token=x");
    const count = written.length;
    vi.advanceTimersByTime(URL_WRITE_MS * 2);
    expect(written.length).toBe(count);
  });
});
