// Import cycles: the `imports` edges whose two ends are in one strongly connected component
// (Tarjan's algorithm, iterative: a deep import chain must not overflow the stack).
import type { Connection } from "../api/types";

/** The ids of the `imports` edges that are part of a cycle. */
export function importCycles(edges: Iterable<Connection>): Set<string> {
  const next = new Map<string, string[]>();
  const imports: Connection[] = [];
  for (const edge of edges) {
    if (edge.kind !== "imports" || edge.source_id === edge.target_id) continue;
    imports.push(edge);
    (next.get(edge.source_id) ?? next.set(edge.source_id, []).get(edge.source_id)!).push(edge.target_id);
  }
  const component = components(next);
  const cyclic = new Set<string>();
  for (const edge of imports) {
    const c = component.get(edge.source_id);
    if (c !== undefined && c === component.get(edge.target_id)) cyclic.add(edge.id);
  }
  return cyclic;
}

/** Node -> its component's number, for components of more than one node. */
function components(next: Map<string, string[]>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result = new Map<string, number>();
  let counter = 0;
  let found = 0;
  for (const start of next.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length) {
      const frame = work[work.length - 1];
      const [node, i] = frame;
      if (i === 0 && !index.has(node)) {
        index.set(node, counter);
        low.set(node, counter++);
        stack.push(node);
        onStack.add(node);
      }
      const targets = next.get(node) ?? [];
      if (i < targets.length) {
        frame[1] = i + 1;
        const target = targets[i];
        if (!index.has(target)) work.push([target, 0]);
        else if (onStack.has(target)) low.set(node, Math.min(low.get(node)!, index.get(target)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(node)!));
      }
      if (low.get(node) === index.get(node)) {
        const members: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          members.push(member);
        } while (member !== node);
        if (members.length > 1) {
          for (const m of members) result.set(m, found);
          found++;
        }
      }
    }
  }
  return result;
}
