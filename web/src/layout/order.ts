// The layout's node order as a change from the order sent before: under churn the worker's
// order changes on every sync (a few ids go, a few come at the end), and posting all
// 10,000 ids each time cost the page's main thread more to receive than the change itself.
// The engine says what each sync changed (layout/engine.ts `lastOrderChange`).

export interface OrderChange {
  /** Ids that left the order (the others keep their sequence). */
  removed: string[];
  /** Ids appended after those that stay. */
  added: string[];
}

/** Whether a change is worth posting as such for an order of `size` ids: a mostly new
 * order goes whole (applying the change would cost the page more than reading it). */
export function worthSending(change: OrderChange, size: number): boolean {
  return change.removed.length + change.added.length <= size / 2;
}

/** The order `change` makes of `prev`. */
export function applyOrder(prev: readonly string[], change: OrderChange): string[] {
  const gone = new Set(change.removed);
  const next = gone.size ? prev.filter((id) => !gone.has(id)) : prev.slice();
  for (const id of change.added) next.push(id);
  return next;
}
