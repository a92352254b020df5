// The colours of the "by drift" mode: the health colours' meanings carried over (in sync
// green, drifted amber, missing red), extra in violet (there, but nobody asked for it), and
// what no repository declares dark, so the managed part stands out.
import type { Entity } from "../api/types";
import { type DriftState, driftState } from "../state/colouring";
import { COLOURS, type RGB } from "./mapping";

export const DRIFT_COLOURS: Record<DriftState, RGB> = {
  in_sync: COLOURS.green,
  drifted: COLOURS.amber,
  missing: COLOURS.red,
  extra: COLOURS.purple,
};
export const UNMANAGED: RGB = [0.22, 0.24, 0.28];

export function driftColour(entity: Entity): RGB {
  const state = driftState(entity.attrs);
  return state ? DRIFT_COLOURS[state] : UNMANAGED;
}
