// What the map's colours say: health (the default), cost or waste (per hour, from
// /api/infra/cost), or GitOps drift (sources/gitops). Kept in the URL (`?colour=cost`) so a
// link opens the same picture.
import { create } from "zustand";

export type ColourBy = "health" | "cost" | "waste" | "drift";
const MODES: readonly ColourBy[] = ["health", "cost", "waste", "drift"];

export interface ColouringState {
  colourBy: ColourBy;
  setColourBy: (c: ColourBy) => void;
}

function fromUrl(): ColourBy {
  const wanted = new URLSearchParams(window.location.search).get("colour");
  return MODES.find((m) => m === wanted) ?? "health";
}

export const useColouring = create<ColouringState>((set) => ({
  colourBy: fromUrl(),
  setColourBy: (colourBy) => {
    set({ colourBy });
    const url = new URL(window.location.href);
    if (colourBy !== "health") url.searchParams.set("colour", colourBy);
    else url.searchParams.delete("colour");
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  },
}));

/** An entity's GitOps state, from the gitops source's fields (null: no repository declares it). */
export type DriftState = "in_sync" | "drifted" | "missing" | "extra";

export function driftState(attrs: Record<string, unknown> | undefined): DriftState | null {
  const state = attrs?.gitops_state;
  return state === "in_sync" || state === "drifted" || state === "missing" || state === "extra" ? state : null;
}

export interface DriftDifference { path: string; desired: unknown; live: unknown }

/** The field-level diff the gitops source puts on the entity (`gitops_diff`, JSON). */
export function driftDifferences(attrs: Record<string, unknown> | undefined): DriftDifference[] {
  const raw = attrs?.gitops_diff;
  if (typeof raw !== "string") return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    return Array.isArray(parsed) ? (parsed as DriftDifference[]) : [];
  } catch {
    return []; // cut at the size cap: the paths (world.infra.gitops.diff) have all of it
  }
}
