// A compare mark as the map draws it (scene/layers/ChangeLayer.ts), for the legend and the
// list of changes.
import { CHANGE_COLOURS, type Change } from "../state/compare";

const rgb = (c: readonly number[]) => `rgb(${c.map((v) => Math.round(v * 255)).join(" ")})`;

/** A change's mark as the map draws it: square, diamond or dashed circle. */
export function ChangeMark({ change, size = 12 }: { change: Change; size?: number }) {
  const stroke = rgb(CHANGE_COLOURS[change]);
  return (
    <svg width={size} height={size} viewBox="0 0 12 12" aria-hidden="true" className="change-mark" data-mark={change}>
      {change === "added" && <rect x="1.5" y="1.5" width="9" height="9" fill="none" stroke={stroke} strokeWidth="2" />}
      {change === "changed" && <path d="M6 1 L11 6 L6 11 L1 6 Z" fill="none" stroke={stroke} strokeWidth="2" />}
      {change === "removed" && <circle cx="6" cy="6" r="4.5" fill="none" stroke={stroke} strokeWidth="2" strokeDasharray="2.4 2.4" />}
    </svg>
  );
}

