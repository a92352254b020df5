// Numbers and times as people read them.
export function relativeTime(ts: number, now = Date.now() / 1000): string {
  const d = Math.max(0, now - ts);
  if (d < 5) return "just now";
  if (d < 60) return `${Math.floor(d)}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return `${Math.floor(d / 86400)}d ago`;
}

export function bytes(n: number | null | undefined): string {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return `${v.toFixed(v < 10 && u ? 1 : 0)} ${units[u]}`;
}

export function rate(n: number | null | undefined, unit = "/s"): string {
  if (n == null) return "–";
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M${unit}`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k${unit}`;
  return `${n.toFixed(n < 10 ? 1 : 0)}${unit}`;
}

export function percent(n: number | null | undefined): string {
  return n == null ? "–" : `${n.toFixed(n < 10 ? 1 : 0)}%`;
}

export const SEVERITY_ICON: Record<string, string> = { info: "●", warning: "▲", error: "✖", critical: "⬣" };

const shown = (v: unknown): string =>
  v === undefined || v === null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** One changed field between two moments, readable: for an object (attrs, labels) the keys
 * that differ, each with its two values, not "[object Object] → [object Object]". */
export function describeChange(field: string, before: unknown, after: unknown): string {
  if (!isRecord(before) || !isRecord(after)) return `${field}: ${shown(before)} → ${shown(after)}`;
  return [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
    .map((k) => `${field}.${k}: ${shown(before[k])} → ${shown(after[k])}`).join("; ");
}
