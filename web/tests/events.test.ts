import { describe, expect, it } from "vitest";
import type { InfraEvent } from "../src/api/types";
import { MAX_EVENTS, mergeEvents } from "../src/state/events";
import { relativeTime } from "../src/panels/format";

const ev = (id: string, ts: number): InfraEvent => ({
  id, type: "Normal", reason: "Started", message: "m", entity_id: "e", entity_kind: "container", entity_name: "c", timestamp: ts,
});

describe("event feed", () => {
  it("keeps newest first without duplicates, bounded", () => {
    let list = mergeEvents([], [ev("1", 10), ev("2", 20)]);
    expect(list.map((e) => e.id)).toEqual(["2", "1"]);
    list = mergeEvents(list, [ev("2", 20), ev("3", 30)]);
    expect(list.map((e) => e.id)).toEqual(["3", "2", "1"]);
    const same = mergeEvents(list, [ev("3", 30)]);
    expect(same).toBe(list);
    const many = mergeEvents([], Array.from({ length: 500 }, (_, i) => ev(String(i), i)));
    expect(many.length).toBe(MAX_EVENTS);
    expect(many[0].id).toBe("499");
  });

  it("shows a recurring event once, with its latest count, at its latest time", () => {
    const backOff = (count: number, ts: number): InfraEvent => ({ ...ev("k8s-event:c/uid-1", ts), reason: "BackOff", count });
    let list = mergeEvents([], [backOff(1, 10), ev("other", 15)]);
    list = mergeEvents(list, [backOff(2, 20)]);
    list = mergeEvents(list, [backOff(3, 30), backOff(2, 20)]);
    expect(list.map((e) => [e.id, e.count ?? null])).toEqual([["k8s-event:c/uid-1", 3], ["other", null]]);
    expect(mergeEvents(list, [backOff(2, 20)])).toBe(list); // an older form changes nothing
  });

  it("says relative times", () => {
    expect(relativeTime(100, 101)).toBe("just now");
    expect(relativeTime(100, 130)).toBe("30s ago");
    expect(relativeTime(100, 100 + 7200)).toBe("2h ago");
  });
});
