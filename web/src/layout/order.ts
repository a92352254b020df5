// The layout's node order as a change from the order sent before: under churn the worker's
// order changes on every sync (a few ids go, a few come at the end), and posting all
// 10,000 ids each time cost the page's main thread more to receive than the change itself.

export interface OrderChange {
  /** Ids that left the order (the others keep their sequence). */
  removed: string[];
  /** Ids appended after those that stay. */
  added: string[];
}

/** `next` as a change from `prev`; null when it is not one (reordered) or not worth it. */
export function orderChange(prev: readonly string[], next: readonly string[]): OrderChange | null {
  const now = new Set(next);
  const removed = prev.filter((id) => !now.has(id));
  const kept = prev.length - removed.length;
  if (kept > next.length || removed.length + next.length - kept > next.length / 2) return null;
  let k = 0;
  for (const id of prev) {
    if (!now.has(id)) continue;
    if (next[k++] !== id) return null; // reordered: not a removal and appends
  }
  return { removed, added: next.slice(kept) };
}

/** The order `change` makes of `prev`. */
export function applyOrder(prev: readonly string[], change: OrderChange): string[] {
  const gone = new Set(change.removed);
  const next = gone.size ? prev.filter((id) => !gone.has(id)) : prev.slice();
  for (const id of change.added) next.push(id);
  return next;
}
