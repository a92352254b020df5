// The exported PNG as the map is read on screen: the WebGL frame, then the DOM labels
// (Labels.tsx) drawn again with a 2D canvas at the places labelling.ts gave them, and a
// caption strip along the bottom saying where, when and how healthy. A picture pasted into
// an incident channel has no page around it: without names and a moment, a red ring says
// nothing. The strip lies over the frame, so the picture keeps the canvas's size.
import type { HealthCounts } from "../state/health";
import type { LabelItem, LabelKind } from "./labelling";
import { COLOURS, type RGB } from "./mapping";

/** What the caption says, before it is drawn. */
export interface CaptionFacts {
  site: string;
  /** The moment shown, seconds since the epoch. */
  at: number;
  /** live, a moment travelled to, or a snapshot file's (its name). */
  source: { kind: "live" } | { kind: "past" } | { kind: "snapshot"; file: string };
  health: HealthCounts;
}

export type CountState = "critical" | "warning" | "ok" | "unknown" | "total";

export interface Caption {
  title: string;
  moment: string;
  counts: { text: string; state: CountState }[];
}

/** `2026-11-30T08:15:00Z`: whole seconds, as export file names are stamped. */
export function utcStamp(at: number): string {
  return new Date(Math.floor(at) * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

/** The caption's words: the health headline's counts, worst first, none that is zero. */
export function caption(facts: CaptionFacts): Caption {
  const { health: h, source } = facts;
  const how = source.kind === "live" ? "live" : source.kind === "past" ? "past moment" : `snapshot ${source.file}`;
  const counts: Caption["counts"] = [];
  if (h.critical) counts.push({ text: `${h.critical} critical`, state: "critical" });
  if (h.warning) counts.push({ text: `${h.warning} warning`, state: "warning" });
  if (h.ok) counts.push({ text: `${h.ok} healthy`, state: "ok" });
  if (h.unknown) counts.push({ text: `${h.unknown} unknown`, state: "unknown" });
  counts.push({ text: `${h.total} ${h.total === 1 ? "entity" : "entities"}`, state: "total" });
  return { title: facts.site, moment: `${utcStamp(facts.at)} (${how})`, counts };
}

/** Labels in the order the page stacks them (styles.css z-index: the selection and the
 * hover over critical labels over the rest), so that the last drawn is the one on top. */
export function stackingOrder(labels: readonly LabelItem[]): LabelItem[] {
  const z = (kind: LabelKind) => (kind === "selected" || kind === "hovered" ? 3 : kind === "critical" ? 2 : 0);
  return labels.map((l, i) => ({ l, i })).sort((p, q) => z(p.l.kind) - z(q.l.kind) || p.i - q.i).map((x) => x.l);
}

// styles.css .label and its kinds, in canvas terms.
interface LabelLook { font: string; colour: string; background?: string; border?: string; inset: number; glow?: boolean }
const PLAIN: LabelLook = { font: "12px", colour: "#d5def0", background: "rgba(8, 12, 22, 0.78)", border: "#24324d", inset: 8 };
const LOOKS: Record<LabelKind, LabelLook> = {
  selected: { ...PLAIN, font: "600 13px", colour: "#fff", border: "#e8eefc" },
  hovered: { ...PLAIN, border: "#5b9cff" },
  critical: { ...PLAIN, colour: "#ffd9d9", background: "rgba(60, 10, 14, 0.85)", border: "#f04444" },
  warning: { ...PLAIN, colour: "#ffe6b0", border: "#7a5a16" },
  near: { ...PLAIN, colour: "#b9c6dc" },
  group: { font: "600 12px", colour: "#9fb3d6", inset: 4, glow: true },
};

const BACKGROUND = "#070b14";
const STRIP = 26; // px (CSS) of the caption strip
const css = (c: RGB) => `rgb(${Math.round(c[0] * 255)} ${Math.round(c[1] * 255)} ${Math.round(c[2] * 255)})`;
const COUNT_COLOURS: Record<CountState, string> = {
  critical: css(COLOURS.red), warning: css(COLOURS.amber), ok: css(COLOURS.green), unknown: "#8a97ad", total: "#8a97ad",
};
/** The legend's health entries (Legend.tsx), shown when the map is coloured by health. */
const LEGEND: [string, RGB][] = [["warning", COLOURS.amber], ["critical", COLOURS.red], ["unknown/stale", COLOURS.grey]];

function roundedBox(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}

function drawLabel(ctx: CanvasRenderingContext2D, item: LabelItem, family: string): void {
  const look = LOOKS[item.kind];
  // Whole pixels, as Labels.tsx places them.
  const left = Math.round(item.left), top = Math.round(item.top);
  if (look.background) {
    roundedBox(ctx, left + 0.5, top + 0.5, item.width - 1, item.height - 1, 5);
    ctx.fillStyle = look.background;
    ctx.fill();
    ctx.strokeStyle = look.border!;
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  ctx.font = `${look.font} ${family}`;
  ctx.textBaseline = "middle";
  ctx.fillStyle = look.colour;
  const y = top + item.height / 2 + 0.5;
  if (look.glow) {
    // text-shadow: 0 0 4px and 0 0 8px of the background, so a title reads over edges.
    ctx.save();
    ctx.shadowColor = BACKGROUND;
    for (const blur of [4, 8]) {
      ctx.shadowBlur = blur;
      ctx.fillText(item.text, left + look.inset, y);
    }
    ctx.restore();
  }
  ctx.fillText(item.text, left + look.inset, y);
}

/** Draws the caption strip along the bottom of a `width` × `height` (CSS px) picture. */
function drawCaption(ctx: CanvasRenderingContext2D, text: Caption, width: number, height: number, family: string, legend: boolean): void {
  const top = height - STRIP;
  ctx.fillStyle = "rgba(14, 20, 34, 0.92)"; // --panel
  ctx.fillRect(0, top, width, STRIP);
  ctx.fillStyle = "#1f2a40"; // --line
  ctx.fillRect(0, top, width, 1);
  ctx.textBaseline = "middle";
  const y = top + STRIP / 2 + 0.5;
  let x = 10;
  const put = (words: string, font: string, colour: string) => {
    ctx.font = `${font} ${family}`;
    ctx.fillStyle = colour;
    ctx.fillText(words, x, y);
    x += ctx.measureText(words).width;
  };
  const sep = () => put("  ·  ", "12px", "#55627a");
  put(text.title, "600 13px", "#dbe4f3");
  sep();
  put(text.moment, "12px", "#dbe4f3");
  text.counts.forEach((c, i) => {
    if (i) put(", ", "12px", "#8a97ad"); else sep();
    put(c.text, c.state === "critical" || c.state === "warning" ? "600 12px" : "12px", COUNT_COLOURS[c.state]);
  });
  if (!legend) return;
  // The health colours at the right, when they fit beside the words with room between.
  ctx.font = `11px ${family}`;
  const entries = LEGEND.map(([name, colour]) => ({ name, colour, width: 14 + ctx.measureText(name).width }));
  const need = entries.reduce((sum, e) => sum + e.width + 12, 0);
  let lx = width - need;
  if (lx < x + 24) return;
  for (const e of entries) {
    ctx.fillStyle = css(e.colour);
    ctx.beginPath();
    ctx.arc(lx + 4, y, 4, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#8a97ad";
    ctx.fillText(e.name, lx + 12, y);
    lx += e.width + 12;
  }
}

/**
 * A 2D canvas the size of `frame` (a WebGL canvas just drawn to, read in this same task:
 * its drawing buffer is not kept) with the labels and the caption over it. `labels` are in
 * CSS px, as placed for the canvas at its CSS size.
 */
export function composeMapPicture(
  frame: HTMLCanvasElement, labels: readonly LabelItem[], text: Caption, options: { legend: boolean },
): HTMLCanvasElement {
  const out = document.createElement("canvas");
  out.width = frame.width;
  out.height = frame.height;
  const ctx = out.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas to draw the picture on");
  ctx.drawImage(frame, 0, 0);
  const width = frame.clientWidth || frame.width;
  const height = frame.clientHeight || frame.height;
  const scale = frame.width / width;
  ctx.scale(scale, scale);
  const family = getComputedStyle(document.documentElement).fontFamily || "sans-serif";
  for (const item of stackingOrder(labels)) drawLabel(ctx, item, family);
  drawCaption(ctx, text, width, height, family, options.legend);
  return out;
}
