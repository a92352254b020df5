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

  it("says relative times", () => {
    expect(relativeTime(100, 101)).toBe("just now");
    expect(relativeTime(100, 130)).toBe("30s ago");
    expect(relativeTime(100, 100 + 7200)).toBe("2h ago");
  });
});
