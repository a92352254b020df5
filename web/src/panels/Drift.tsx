// The selection's GitOps state (sources/gitops): in sync, drifted (with the fields that
// differ, desired beside live), missing or extra; where it is declared and at which commit;
// what Argo CD or Flux say themselves.
import type { Entity } from "../api/types";
import { driftDifferences, driftState } from "../state/colouring";
import { DRIFT_COLOURS } from "../scene/drift";
import { css } from "./Legend";

const WORDS = { in_sync: "in sync with Git", drifted: "drifted from Git", missing: "missing: in Git, not in the cluster", extra: "extra: in the cluster, not in Git" };

function show(value: unknown): string {
  if (value === null || value === undefined) return "(none)";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function Drift({ entity }: { entity: Entity }) {
  const state = driftState(entity.attrs);
  if (!state) return null;
  const attrs = entity.attrs ?? {};
  const diffs = driftDifferences(entity.attrs);
  return (
    <section className="drift" data-testid="drift" data-state={state}>
      <h4>GitOps</h4>
      <p><i className="swatch" style={{ background: css(DRIFT_COLOURS[state]) }} /> {WORDS[state]}</p>
      <p className="muted small mono">
        {String(attrs.gitops_repository ?? "")}{attrs.gitops_file ? ` · ${String(attrs.gitops_file)}` : ""}
        {attrs.gitops_revision ? ` @ ${String(attrs.gitops_revision)}` : ""}
      </p>
      {attrs.gitops_controller ? <p className="small" data-testid="drift-controller">{String(attrs.gitops_controller)}</p> : null}
      {diffs.length > 0 && (
        <table className="diff" data-testid="drift-diff">
          <thead><tr><th>field</th><th>Git</th><th>cluster</th></tr></thead>
          <tbody>
            {diffs.map((d) => (
              <tr key={d.path} data-path={d.path}>
                <td className="mono">{d.path}</td><td className="mono desired">{show(d.desired)}</td><td className="mono live">{show(d.live)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
