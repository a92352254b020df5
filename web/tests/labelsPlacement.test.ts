// @vitest-environment jsdom
// The label pool (Labels.tsx): each label is its own compositor layer, so it is placed on
// whole pixels (a layer at a fractional offset is resampled, which blurs its text).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { act, createElement } from "react";
import { createRoot } from "react-dom/client";
import { describe, expect, it } from "vitest";
import { Labels } from "../src/scene/Labels";
import type { LabelItem } from "../src/scene/labelling";

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));

describe("Labels", () => {
  it("places each label on whole pixels, on a layer of its own", async () => {
    const items = { current: [{
      id: "k8s:prod/pod/shop/web-7d4b9c6f5-x2x9q", ids: ["k8s:prod/pod/shop/web-7d4b9c6f5-x2x9q"],
      text: "web-7d4b9c6f5-x2x9q", kind: "critical", left: 406.1, top: 139.6, width: 140, height: 18,
    } as LabelItem] };
    const host = document.createElement("div");
    document.body.appendChild(host);
    const root = createRoot(host);
    await act(async () => root.render(createElement(Labels, { items })));
    await act(frame);
    const shown = [...host.querySelectorAll<HTMLDivElement>(".label")].filter((el) => el.style.display === "block");
    expect(shown.map((el) => [el.dataset.id, el.textContent, el.style.transform])).toEqual([
      ["k8s:prod/pod/shop/web-7d4b9c6f5-x2x9q", "web-7d4b9c6f5-x2x9q", "translate(406px, 140px)"],
    ]);
    await act(async () => root.unmount());
    // The layer: without it, moving a label repaints the map-sized layer holding them all.
    const rule = readFileSync(join(__dirname, "..", "src", "styles.css"), "utf8").match(/\n\.label \{[^}]*\}/)?.[0] ?? "";
    expect(rule).toContain("will-change: transform");
  });
});
