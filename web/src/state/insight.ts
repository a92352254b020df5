// What is unusual now and what things cost (from /api/infra/anomalies and /api/infra/cost)
// and the "unusual now" filter (the colour mode is state/colouring.ts). live/insight.ts
// fills it; the scene colours by it, the view filters by it, panels show it.
import { create } from "zustand";
type RGB = [number, number, number];

export interface UnitCost { cost: number; waste: number }

export interface TopSpender {
  id: string; kind: string; name: string; namespace: string | null;
  cost_per_hour: number; waste_per_hour: number; cpu: number; memory: number;
}

export interface CostTotals {
  allocated_per_hour: number; idle_per_hour: number; storage_per_hour: number;
  total_per_hour: number; waste_per_hour: number;
}

export interface InsightState {
  unusualOnly: boolean;
  /** Ids of entities (and connections) with an anomaly now, not marked expected. */
  unusual: ReadonlySet<string>;
  costs: Record<string, UnitCost>;
  currency: string;
  totals: CostTotals | null;
  top: TopSpender[];
  /** While the map shows the past: when the cost shown was recorded (null: nothing was
   * recorded then). Null while live. */
  costPast: { recordedAt: number | null } | null;
  /** Bumped when anything the map draws from here changes. */
  revision: number;
  setUnusualOnly: (on: boolean) => void;
}

export const useInsight = create<InsightState>((set, get) => ({
  unusualOnly: false,
  unusual: new Set(),
  costs: {},
  currency: "USD",
  totals: null,
  top: [],
  costPast: null,
  revision: 0,
  setUnusualOnly: (unusualOnly) => set({ unusualOnly, revision: get().revision + 1 }),
}));

const GREY: RGB = [0.35, 0.38, 0.45];
// Cool to hot: cheap is a dim blue, the most expensive a bright orange-red (never the
// health colours' exact green, amber and red: the legend says which mode is on).
const LOW: RGB = [0.25, 0.45, 0.85];
const HIGH: RGB = [1.0, 0.42, 0.18];

/** The colour of `value` among values up to `max`, on a log scale (costs span decades). */
export function costColour(value: number | undefined, max: number): RGB {
  if (value === undefined || max <= 0) return GREY;
  const t = Math.min(1, Math.log1p((value / max) * 99) / Math.log(100));
  return [LOW[0] + (HIGH[0] - LOW[0]) * t, LOW[1] + (HIGH[1] - LOW[1]) * t, LOW[2] + (HIGH[2] - LOW[2]) * t];
}

/** The largest cost (or waste) among the units: the top of the colour scale. */
export function costMax(costs: Record<string, UnitCost>, by: "cost" | "waste"): number {
  let max = 0;
  for (const unit of Object.values(costs)) max = Math.max(max, unit[by]);
  return max;
}

/** A cost per hour as people read it: per month when that is clearer. */
export function money(perHour: number, currency: string): string {
  const month = perHour * 730;
  return `${month >= 100 ? month.toFixed(0) : month.toFixed(2)} ${currency}/mo`;
}
