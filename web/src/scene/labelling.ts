// Which labels the map shows and where, so that none overlaps another: the selection and
// the hover first, then every critical entity, then group titles (namespace rings, the
// clusters of "By namespace", the layers of "By kind"), then warnings and what is near the
// view's centre when zoomed in. A label that finds no free place is left out; a critical
// one joins its nearest critical neighbour's label ("pod-a +2") instead.
import * as THREE from "three";
import type { LayoutPreset } from "../state/url";
import { groupTitle } from "../state/groups";
import { incidentRoot } from "../state/incidents";
import { kindStyle } from "./mapping";
import type { SceneGraph } from "./SceneGraph";

export type LabelKind = "selected" | "hovered" | "critical" | "group" | "warning" | "near";

export interface LabelWish {
  id: string;
  text: string;
  /** The point labelled, canvas px. */
  x: number;
  y: number;
  kind: LabelKind;
  /** Layer titles sit to the left of their layer; everything else above its point. */
  side?: "above" | "left";
  title?: string;
  /** The entities this label names, when more than `id` (an incident's). */
  members?: string[];
  /** Other points it may label instead when (x, y) finds no room (a ring's other sides). */
  alternatives?: { x: number; y: number }[];
}

export interface LabelItem extends LabelWish {
  /** Every entity this label names (a critical label may carry neighbours). */
  ids: string[];
  /** Top-left corner and size of the box, canvas px. */
  left: number;
  top: number;
  width: number;
  height: number;
}

const HEIGHT = 20;
/** Horizontal padding and borders of each kind of label (styles.css .label). */
const PADDING: Record<LabelKind, number> = { selected: 18, hovered: 18, critical: 18, warning: 18, near: 18, group: 10 };
const NEAR_PX = 60; // critical entities of one incident this close share a label
const GAP = 6;

interface Box { left: number; top: number; width: number; height: number }

const overlaps = (p: Box, q: Box) =>
  p.left < q.left + q.width && q.left < p.left + p.width && p.top < q.top + q.height && q.top < p.top + p.height;

/** Greedy placement, in the order given (the most important first). */
export function placeLabels(
  wishes: LabelWish[], width: number, height: number, measure: (text: string, kind: LabelKind) => number,
): LabelItem[] {
  const placed: LabelItem[] = [];
  const free = (box: Box, except?: LabelItem) => !placed.some((p) => p !== except && overlaps(p, box));
  const clamp = (left: number, top: number, w: number, h: number): Box => ({
    left: Math.min(Math.max(2, left), width - w - 2), top: Math.min(Math.max(2, top), height - h - 2), width: w, height: h,
  });
  const spotsAt = (wish: LabelWish, x: number, y: number, w: number, h: number): [number, number][] => wish.side === "left"
    ? [[x - w - 12, y - h / 2], [x - w / 2, y - h - GAP]]
    : [[x - w / 2, y - h - GAP], [x - w / 2, y + GAP + 4], [x + GAP + 6, y - h / 2], [x - w - GAP - 6, y - h / 2]];
  const size = (text: string, kind: LabelKind) => ({ w: measure(text, kind) + PADDING[kind], h: kind === "group" ? HEIGHT + 2 : HEIGHT });
  for (const wish of wishes) {
    const { w, h } = size(wish.text, wish.kind);
    const spots = spotsAt(wish, wish.x, wish.y, w, h);
    const tries = wish.kind === "near" || wish.kind === "warning" ? spots.slice(0, 2) : spots;
    // A group title may go anywhere around its group (a crowded ring has free room somewhere).
    for (const alt of wish.alternatives ?? []) tries.push(...spotsAt(wish, alt.x, alt.y, w, h).slice(0, wish.kind === "group" ? 4 : 1));
    let spot: Box | null = null;
    for (const [left, top] of tries) {
      const box = clamp(left, top, w, h);
      if (free(box)) { spot = box; break; }
    }
    if (!spot && (wish.kind === "selected" || wish.kind === "hovered")) spot = clamp(tries[0][0], tries[0][1], w, h);
    if (spot) {
      placed.push({ ...wish, ids: wish.members ?? [wish.id], ...spot });
      continue;
    }
    if (wish.kind !== "critical") continue;
    let nearest: LabelItem | null = null;
    let best = Infinity;
    for (const p of placed) {
      if (p.kind !== "critical") continue;
      const d = Math.hypot(p.x - wish.x, p.y - wish.y);
      if (d < best) { best = d; nearest = p; }
    }
    if (!nearest) continue;
    nearest.ids.push(...(wish.members ?? [wish.id]));
    nearest.title = `${nearest.title ?? nearest.text}\n${wish.title ?? wish.text}`;
    // The longer text needs room of its own: where it was, or another of its spots.
    const text = `${nearest.text.replace(/ \+\d+$/, "")} +${nearest.ids.length - 1}`;
    const grown = size(text, "critical");
    const home = nearest;
    const room = [[home.left, home.top] as [number, number], ...spotsAt(home, home.x, home.y, grown.w, grown.h)]
      .map(([left, top]) => clamp(left, top, grown.w, grown.h)).find((box) => free(box, home));
    if (room) Object.assign(home, room, { text });
  }
  return placed;
}

const PLURAL: Record<string, string> = { "Node / host": "Nodes / hosts", Process: "Processes", Ingress: "Ingresses" };
const plural = (label: string) => PLURAL[label] ?? `${label}s`;

interface Frame { camera: THREE.Camera; width: number; height: number; pixelRatio: number; distance: number }

/** Every label wished for, most important first. */
export function wishLabels(
  sg: SceneGraph, frame: Frame, layout: LayoutPreset, selected: string | null, hovered: string | null, hoverText: string | null,
): LabelWish[] {
  const { camera, width, height } = frame;
  const wishes: LabelWish[] = [];
  const v = new THREE.Vector3();
  const top = (i: number): { x: number; y: number } | null => {
    if (!sg.placed[i]) return null;
    v.set(sg.pos[i * 3], sg.pos[i * 3 + 1] + sg.sizes[i] * 1.2, sg.pos[i * 3 + 2]).project(camera);
    if (v.z > 1 || v.z < -1) return null;
    const x = ((v.x + 1) / 2) * width, y = ((1 - v.y) / 2) * height;
    return x < -20 || x > width + 20 || y < -20 || y > height + 20 ? null : { x, y };
  };
  const wish = (i: number, kind: LabelKind, text = sg.view.nodes[i].entity.name) => {
    const at = top(i);
    if (at) wishes.push({ id: sg.view.nodes[i].id, text, ...at, kind });
  };
  const shown = (id: string | null) => (id ? sg.index.get(sg.view.shownAs.get(id) ?? id) : undefined);
  const sel = shown(selected), hov = shown(hovered);
  if (sel !== undefined) wish(sel, "selected");
  if (hov !== undefined && hov !== sel) wish(hov, "hovered", hoverText ?? undefined);
  const n = sg.view.nodes.length;
  wishes.push(...criticalWishes(sg, top, sel, hov));
  wishes.push(...groupWishes(sg, frame, layout));
  const warnings: number[] = [];
  for (let i = 0; i < n; i++) if (sg.level[i] === 1 && i !== sel && i !== hov) warnings.push(i);
  // Warnings are many on a big map: all of them once zoomed in, a few at overview.
  for (const i of warnings.slice(0, frame.distance < 400 ? 40 : 10)) wish(i, "warning");
  const budget = frame.distance < 120 ? 24 : frame.distance < 300 ? 10 : frame.distance < 600 ? 4 : 0;
  if (budget) {
    const candidates: { i: number; d: number }[] = [];
    for (let i = 0; i < n; i++) {
      if (i === sel || i === hov || sg.level[i] || sg.ringScale[i]) continue;
      if (sg.highlight && !sg.highlight.has(sg.view.nodes[i].id)) continue;
      const sx = sg.screen[i * 2] / frame.pixelRatio, sy = sg.screen[i * 2 + 1] / frame.pixelRatio;
      if (!(Math.abs(sx) < width * 0.45 && Math.abs(sy) < height * 0.45)) continue;
      candidates.push({ i, d: Math.hypot(sx, sy) });
    }
    candidates.sort((a, b) => a.d - b.d);
    for (const { i } of candidates.slice(0, budget)) wish(i, "near");
  }
  return wishes;
}

/**
 * One label per incident (state/incidents.ts): on its most upstream critical entity (the
 * pod rather than its container), naming every critical entity of the incident.
 */
function criticalWishes(
  sg: SceneGraph, top: (i: number) => { x: number; y: number } | null, sel: number | undefined, hov: number | undefined,
): LabelWish[] {
  const incidents = new Map<number, number[]>();
  const kindOf = (i: number) => sg.view.nodes[i].entity.kind;
  const parent = (i: number) => (sg.owner[i] >= 0 ? sg.owner[i] : undefined);
  for (let i = 0; i < sg.view.nodes.length; i++) {
    if (sg.level[i] !== 2) continue;
    const root = incidentRoot(i, parent, kindOf);
    const members = incidents.get(root) ?? [];
    members.push(i);
    incidents.set(root, members);
  }
  const out: LabelWish[] = [];
  const depth = (i: number) => { let d = 0; for (let j = i; sg.owner[j] >= 0 && d < 8; j = sg.owner[j]) d++; return d; };
  for (const members of incidents.values()) {
    members.sort((a, b) => depth(a) - depth(b));
    // Members close together on screen share a label; one far from the others has its own.
    const spots: { anchor: number; at: { x: number; y: number }; ids: number[] }[] = [];
    for (const i of members) {
      const at = top(i);
      if (!at) continue;
      const spot = spots.find((p) => Math.hypot(p.at.x - at.x, p.at.y - at.y) < NEAR_PX);
      if (spot) spot.ids.push(i);
      else spots.push({ anchor: i, at, ids: [i] });
    }
    for (const spot of spots) {
      // The selected or hovered entity has a label of its own (naming only it): the rest of
      // its spot still needs theirs, on the next of them.
      const ids = spot.ids.filter((i) => i !== sel && i !== hov);
      if (ids.length === 0) continue;
      const at = ids[0] === spot.anchor ? spot.at : top(ids[0]) ?? spot.at;
      const names = ids.map((i) => sg.view.nodes[i].entity.name);
      const more = ids.length > 1 ? ` +${ids.length - 1}` : "";
      out.push({
        id: sg.view.nodes[ids[0]].id, text: `${names[0]}${more}`, ...at, kind: "critical", title: names.join("\n"),
        members: ids.map((i) => sg.view.nodes[i].id),
      });
    }
  }
  return out;
}

/** Titles of the map's groups: namespace rings; "By namespace" clusters; "By kind" layers. */
function groupWishes(sg: SceneGraph, frame: Frame, layout: LayoutPreset): LabelWish[] {
  const { width, height, pixelRatio } = frame;
  const n = sg.view.nodes.length;
  const out: LabelWish[] = [];
  const { clusters, layoutGroup } = sg.labelGroups;
  if (layout === "force") {
    const v = new THREE.Vector3();
    for (let i = 0; i < n; i++) {
      const r = sg.ringScale[i];
      if (!r) continue;
      // The ring's highest point on screen; its lowest, leftmost, rightmost if that is taken.
      const around: { x: number; y: number }[] = [];
      for (let k = 0; k < 16; k++) {
        const a = (k / 16) * Math.PI * 2;
        v.set(sg.pos[i * 3] + Math.cos(a) * r, sg.pos[i * 3 + 1], sg.pos[i * 3 + 2] + Math.sin(a) * r).project(frame.camera);
        if (v.z > 1 || v.z < -1) continue;
        const p = { x: ((v.x + 1) / 2) * width, y: ((1 - v.y) / 2) * height };
        if (p.x > 0 && p.x < width && p.y > 0 && p.y < height) around.push(p);
      }
      if (!around.length) continue;
      const pick = (better: (p: { x: number; y: number }, q: { x: number; y: number }) => boolean) =>
        around.reduce((p, q) => (better(q, p) ? q : p));
      const extremes = [pick((p, q) => p.y < q.y), pick((p, q) => p.y > q.y), pick((p, q) => p.x < q.x), pick((p, q) => p.x > q.x)];
      // Then every other point of the ring, highest first, and its centre: critical labels
      // placed before may crowd the extremes.
      const rest = around.filter((p) => !extremes.includes(p)).sort((p, q) => p.y - q.y);
      const centre = around.reduce((c, p) => ({ x: c.x + p.x / around.length, y: c.y + p.y / around.length }), { x: 0, y: 0 });
      const [best, ...alternatives] = [...extremes, ...rest, centre];
      const key = layoutGroup(sg.view.nodes[i].entity);
      out.push({ id: `group:${key}`, text: groupTitle(key, clusters), ...best, kind: "group", alternatives });
    }
    return out;
  }
  // Screen extents of each group's members (sg.screen: device px from the centre).
  const groups = new Map<string, { minX: number; minY: number; maxY: number; sumX: number; sumY: number; count: number }>();
  for (let i = 0; i < n; i++) {
    const e = sg.view.nodes[i].entity;
    if (sg.ringScale[i] || e.kind === "namespace") continue;
    const sx = sg.screen[i * 2] / pixelRatio + width / 2, sy = height / 2 - sg.screen[i * 2 + 1] / pixelRatio;
    if (!Number.isFinite(sx) || !Number.isFinite(sy)) continue;
    const key = layout === "kind" ? e.kind : layoutGroup(e);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { minX: Infinity, minY: Infinity, maxY: -Infinity, sumX: 0, sumY: 0, count: 0 }));
    g.minX = Math.min(g.minX, sx);
    g.minY = Math.min(g.minY, sy);
    g.maxY = Math.max(g.maxY, sy);
    g.sumX += sx; g.sumY += sy; g.count++;
  }
  // Layer titles form one column left of the whole picture, each at its layer's height,
  // spread apart where layers lie closer than a line of text.
  if (layout === "kind") {
    let left = Infinity;
    for (const g of groups.values()) left = Math.min(left, g.minX);
    const column = [...groups].map(([key, g]) => ({ key, count: g.count, y: g.sumY / g.count }))
      .sort((p, q) => p.y - q.y);
    const line = HEIGHT + 4;
    for (let k = 1; k < column.length; k++) column[k].y = Math.max(column[k].y, column[k - 1].y + line);
    const over = column.length ? column[column.length - 1].y + line / 2 - (height - 2) : 0;
    if (over > 0) for (const c of column) c.y -= over;
    for (const { key, count, y } of column) {
      const label = plural(kindStyle(key).label);
      out.push({ id: `group:${key}`, text: `${label} · ${count}`, x: left, y, kind: "group", side: "left" });
    }
    return out;
  }
  for (const [key, g] of groups) {
    out.push({
      id: `group:${key}`, text: groupTitle(key, clusters), x: g.sumX / g.count, y: g.minY, kind: "group",
      alternatives: [{ x: g.sumX / g.count, y: g.maxY + HEIGHT + 2 * GAP }],
    });
  }
  // Bigger groups first: they are the ones to place when titles compete.
  return out.sort((p, q) => (groups.get(q.id.slice(6))?.count ?? 0) - (groups.get(p.id.slice(6))?.count ?? 0));
}

/** Text widths, px, measured once per text with the labels' fonts. */
export function textMeasurer(): (text: string, kind: LabelKind) => number {
  const ctx = document.createElement("canvas").getContext("2d");
  const cache = new Map<string, number>();
  let family = "";
  return (text, kind) => {
    family ||= getComputedStyle(document.documentElement).fontFamily || "sans-serif";
    const font = kind === "group" || kind === "selected" ? `600 ${kind === "group" ? 12 : 13}px ${family}` : `12px ${family}`;
    const key = `${font}|${text}`;
    let w = cache.get(key);
    if (w === undefined) {
      if (ctx) ctx.font = font;
      w = ctx ? ctx.measureText(text).width : text.length * 7;
      if (cache.size > 5000) cache.clear();
      cache.set(key, w);
    }
    return w;
  };
}
