// What changed between two moments: added, removed and changed entities, listed (each
// one selectable and flown to on the map, the removed ones as ghosts) and marked on the
// map (state/compare.ts; the legend explains the marks). Each line says where its entity
// is (state/compareEntries.ts); a gone one is named as it was last seen.
import { useMemo } from "react";
import { travel } from "../live/travel";
import { compareContext } from "../state/compareEntries";
import { useGraph } from "../state/graphContext";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { EntityLink } from "./EntityLink";
import { ChangeMark } from "./ChangeMark";
import { describeChange } from "./format";

export function CompareList() {
  const diff = useTime((s) => s.diff);
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  // Pods and changed entities are looked up on the map: again when something came or went.
  const context = useMemo(() => (diff ? compareContext(diff, (id) => graph.entities.get(id), graph.edges.values()) : null),
    [diff, graph, graph.structure]);
  if (!diff || !context || !travel) return null;
  const t = travel;
  const changed = Object.entries(diff.entities.changed);
  // Each list shows its first 50; the rest are counted, not dropped silently.
  const more = [diff.entities.added.length, diff.entities.removed.length, changed.length]
    .reduce((sum, n) => sum + Math.max(0, n - 50), 0);
  return (
    <section className="compare" data-testid="compare" aria-label="Changes between two moments">
      <header>
        <b>{diff.entities.added.length}</b> added · <b>{diff.entities.removed.length}</b> removed ·{" "}
        <b>{changed.length}</b> changed · edges +{diff.connections.added.length} −{diff.connections.removed.length}
        <span className="muted"> · the map shows the later moment, changes marked</span>
        <button type="button" className="chip" onClick={() => t.clearCompare()}>Close</button>
      </header>
      <ul>
        {diff.entities.added.slice(0, 50).map((e) => <li key={`a-${e.id}`} data-change="added" data-entity={e.id}><ChangeMark change="added" /> <EntityLink id={e.id} known={e} /> <span className="muted">{context.get(e.id)}</span></li>)}
        {diff.entities.removed.slice(0, 50).map((e) => <li key={`r-${e.id}`} data-change="removed" data-entity={e.id}><ChangeMark change="removed" /> <EntityLink id={e.id} known={e} /> <span className="muted">{context.get(e.id)} (gone: a ghost on the map)</span></li>)}
        {changed.slice(0, 50).map(([id, fields]) => (
          <li key={`c-${id}`} data-change="changed" data-entity={id}>
            <ChangeMark change="changed" /> <EntityLink id={id} /> <span className="muted">{context.has(id) ? `${context.get(id)}: ` : ""}{Object.entries(fields).map(([f, [a, b]]) => describeChange(f, a, b)).join("; ")}</span>
          </li>
        ))}
        {more > 0 && <li className="muted" data-testid="compare-more">… and {more} more (the map marks every one)</li>}
      </ul>
    </section>
  );
}
