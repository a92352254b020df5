// What changed between two moments: added, removed and changed entities, listed (each
// one selectable on the map when it is there).
import { travel } from "../live/travel";
import { useTime } from "../state/time";
import { EntityLink } from "./EntityLink";

export function CompareList() {
  const diff = useTime((s) => s.diff);
  if (!diff || !travel) return null;
  const t = travel;
  const changed = Object.entries(diff.entities.changed);
  return (
    <section className="compare" data-testid="compare" aria-label="Changes between two moments">
      <header>
        <b>{diff.entities.added.length}</b> added · <b>{diff.entities.removed.length}</b> removed ·{" "}
        <b>{changed.length}</b> changed · edges +{diff.connections.added.length} −{diff.connections.removed.length}
        <button type="button" className="chip" onClick={() => t.clearCompare()}>Close</button>
      </header>
      <ul>
        {diff.entities.added.slice(0, 50).map((e) => <li key={`a-${e.id}`} className="c-ok" data-change="added" data-entity={e.id}>+ <EntityLink id={e.id} /> <span className="muted">{e.kind} {e.name}</span></li>)}
        {diff.entities.removed.slice(0, 50).map((e) => <li key={`r-${e.id}`} className="c-critical" data-change="removed" data-entity={e.id}>− {e.kind} {e.name}</li>)}
        {changed.slice(0, 50).map(([id, fields]) => (
          <li key={`c-${id}`} className="c-warning" data-change="changed" data-entity={id}>
            ~ <EntityLink id={id} /> <span className="muted">{Object.entries(fields).map(([f, [a, b]]) => `${f}: ${String(a)} → ${String(b)}`).join("; ")}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}
