// Both mode: the runtime traffic between what runs the code, projected up onto the
// repositories that run as it, so "static: A imports B" sits beside "runtime: A's service
// calls B's service". A projected edge carries the runtime connection it stands for (its
// kind's style, its rate, its particles).
import type { Connection, ConnectionKind } from "../api/types";
import type { ViewEdge } from "./view";

const TRAFFIC: ReadonlySet<ConnectionKind> = new Set(["http", "grpc", "nats", "network"]);

/** The repository a code entity belongs to: the top of its `owns` chain. */
function repositoryOf(id: string, parent: Map<string, string>): string {
  let current = id;
  for (let hops = 0; hops < 64; hops++) {
    const up = parent.get(current);
    if (!up) break;
    current = up;
  }
  return current;
}

/** Projected edges between shown repositories (ids as the view shows them). */
export function projectTraffic(edges: Iterable<Connection>, parent: Map<string, string>, shownAs: Map<string, string>): ViewEdge[] {
  const runBy = new Map<string, Set<string>>(); // runtime entity -> repositories running as it
  const traffic: Connection[] = [];
  for (const edge of edges) {
    if (edge.kind === "runs_as") {
      const repo = repositoryOf(edge.source_id, parent);
      (runBy.get(edge.target_id) ?? runBy.set(edge.target_id, new Set()).get(edge.target_id)!).add(repo);
    } else if (TRAFFIC.has(edge.kind)) traffic.push(edge);
  }
  if (!runBy.size) return [];
  const projected = new Map<string, ViewEdge>();
  for (const edge of traffic) {
    const from = runBy.get(edge.source_id);
    const to = runBy.get(edge.target_id);
    if (!from || !to) continue;
    for (const a of from) {
      for (const b of to) {
        const source = shownAs.get(a);
        const target = shownAs.get(b);
        if (!source || !target || source === target) continue;
        const id = `projected:${edge.kind}:${source}->${target}`;
        if (!projected.has(id)) projected.set(id, { id, source, target, edge, projected: true });
      }
    }
  }
  return [...projected.values()];
}
