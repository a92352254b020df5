// What changed between two moments: added, removed and changed entities, listed (each
// one selectable and flown to on the map, the removed ones as ghosts) and marked on the
// map (state/compare.ts; the legend explains the marks).
import { travel } from "../live/travel";
import { useTime } from "../state/time";
import { EntityLink } from "./EntityLink";
import { ChangeMark } from "./ChangeMark";
import { describeChange } from "./format";

export function CompareList() {
  const diff = useTime((s) => s.diff);
  if (!diff || !travel) return null;
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
        {diff.entities.added.slice(0, 50).map((e) => <li key={`a-${e.id}`} data-change="added" data-entity={e.id}><ChangeMark change="added" /> <EntityLink id={e.id} /> <span className="muted">{e.kind} {e.name}</span></li>)}
        {diff.entities.removed.slice(0, 50).map((e) => <li key={`r-${e.id}`} data-change="removed" data-entity={e.id}><ChangeMark change="removed" /> <EntityLink id={e.id} /> <span className="muted">{e.kind} {e.name} (gone: a ghost on the map)</span></li>)}
        {changed.slice(0, 50).map(([id, fields]) => (
          <li key={`c-${id}`} data-change="changed" data-entity={id}>
            <ChangeMark change="changed" /> <EntityLink id={id} /> <span className="muted">{Object.entries(fields).map(([f, [a, b]]) => describeChange(f, a, b)).join("; ")}</span>
          </li>
        ))}
        {more > 0 && <li className="muted" data-testid="compare-more">… and {more} more (the map marks every one)</li>}
      </ul>
    </section>
  );
}
