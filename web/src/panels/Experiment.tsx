// A chaos experiment on the selection (docs/actions.md): pick the action, see the blast
// radius, confirm, run (or dry-run), undo, and read the report built from history. Shown
// only when the server says actions are enabled and the selection is something they fit.
import { useEffect, useState } from "react";
import {
  type ActionsInfo, type AuditEntry, type Preview, type Report, actionsApi, actionsFor, operatorToken,
} from "../api/actions";
import type { Entity } from "../api/types";
import { isoTime } from "../state/time";
import { EntityLink } from "./EntityLink";

let infoOnce: Promise<ActionsInfo | null> | null = null;
function actionsInfo(): Promise<ActionsInfo | null> {
  infoOnce ??= actionsApi.info().catch(() => null);
  return infoOnce;
}

/** The action that undoes one, and how (null: none: a deleted pod comes back by itself). */
function undoOf(entry: AuditEntry): { action: string; replicas?: number } | null {
  switch (entry.action) {
    case "pause": return { action: "unpause" };
    case "cordon": return { action: "uncordon" };
    case "stop": case "kill": return null;
    case "scale": {
      const previous = entry.params.previous_replicas;
      return typeof previous === "number" ? { action: "scale", replicas: previous } : null;
    }
    default: return null;
  }
}

const seconds = (s: number | null) => (s == null ? "not seen" : `${s.toFixed(1)} s`);

export function ExperimentButton({ entity }: { entity: Entity }) {
  const [info, setInfo] = useState<ActionsInfo | null>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => { let live = true; void actionsInfo().then((i) => live && setInfo(i)); return () => { live = false; }; }, []);
  if (!info?.enabled || actionsFor(entity.id, info).length === 0) return null;
  return (
    <>
      <button type="button" className="chip danger" data-testid="experiment-open" onClick={() => setOpen(true)}>Experiment…</button>
      {open && <ExperimentDialog entity={entity} choices={actionsFor(entity.id, info)} onClose={() => setOpen(false)} />}
    </>
  );
}

function ExperimentDialog({ entity, choices, onClose }: { entity: Entity; choices: string[]; onClose: () => void }) {
  const [action, setAction] = useState(choices[0]);
  const [replicas, setReplicas] = useState(0);
  const [token, setToken] = useState(operatorToken.get());
  const [confirmed, setConfirmed] = useState(false);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [result, setResult] = useState<{ experiment?: string; entry: AuditEntry } | null>(null);
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => { actionsApi.preview(entity.id).then(setPreview).catch((e: Error) => setError(e.message)); }, [entity.id]);

  const body = { action, target: entity.id, ...(action === "scale" ? { replicas } : {}) };
  async function attempt(work: () => Promise<void>) {
    setBusy(true); setError(null);
    operatorToken.set(token);
    try { await work(); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  }
  const dryRun = () => attempt(async () => setResult({ entry: await actionsApi.act({ ...body, dry_run: true }, token) }));
  const run = () => attempt(async () => {
    const answer = await actionsApi.run(body, token);
    setResult({ experiment: answer.experiment, entry: answer.entry });
  });
  const undo = result?.experiment ? undoOf(result.entry) : null;
  const doUndo = () => attempt(async () => {
    if (!undo || !result?.experiment) return;
    await actionsApi.act({ action: undo.action, target: entity.id, replicas: undo.replicas, experiment: result.experiment }, token);
  });
  const fetchReport = () => attempt(async () => { if (result?.experiment) setReport(await actionsApi.report(result.experiment)); });

  return (
    <div className="dialog-backdrop" onClick={onClose}>
      <div className="dialog" role="dialog" aria-label="Chaos experiment" data-testid="experiment" onClick={(e) => e.stopPropagation()}>
        <h3>Experiment on {entity.name}</h3>
        <label>Action{" "}
          <select data-testid="experiment-action" value={action} onChange={(e) => setAction(e.target.value)}>
            {choices.map((c) => <option key={c} value={c}>{c.replace("_", " ")}</option>)}
          </select>
        </label>
        {action === "scale" && (
          <label> to <input type="number" min={0} max={1000} value={replicas} data-testid="experiment-replicas"
            onChange={(e) => setReplicas(Number(e.target.value))} /> replicas</label>
        )}
        <h4>Blast radius ({preview?.blast_radius.length ?? "…"})</h4>
        <ul className="relations" data-testid="experiment-blast">
          {preview?.blast_radius.slice(0, 20).map((r) => <li key={r.id}><EntityLink id={r.id} /></li>)}
          {preview && preview.blast_radius.length === 0 && <li className="muted">nothing else on the map depends on it</li>}
        </ul>
        <label className="block">Operator token{" "}
          <input type="password" autoComplete="off" data-testid="experiment-token" value={token} onChange={(e) => setToken(e.target.value)} />
        </label>
        <label className="block">
          <input type="checkbox" data-testid="experiment-confirm" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} />
          {" "}I mean it: this changes {entity.name} for real
        </label>
        <div className="buttons">
          <button type="button" className="chip" data-testid="experiment-dry-run" disabled={busy || !token} onClick={dryRun}>Dry run</button>
          <button type="button" className="chip danger" data-testid="experiment-run" disabled={busy || !token || !confirmed || !!result?.experiment} onClick={run}>Run</button>
          {undo && <button type="button" className="chip" data-testid="experiment-undo" disabled={busy} onClick={doUndo}>Undo ({undo.action})</button>}
          {result?.experiment && <button type="button" className="chip" data-testid="experiment-report" disabled={busy} onClick={fetchReport}>Report</button>}
          <button type="button" className="chip" onClick={onClose}>Close</button>
        </div>
        {error && <p className="error" data-testid="experiment-error">{error}</p>}
        {result && <p data-testid="experiment-result" data-outcome={result.entry.outcome}>{result.entry.outcome}: {result.entry.message}</p>}
        {report && (
          <div data-testid="experiment-report-body">
            <p>Time to detect: <b data-testid="ttd">{seconds(report.time_to_detect)}</b> · time to recover: <b data-testid="ttr">{seconds(report.time_to_recover)}</b></p>
            <ul className="relations">
              {report.affected.map((a) => <li key={a.id}><EntityLink id={a.id} /> <span className="muted">{a.worst}{a.reasons.length ? `: ${a.reasons[0]}` : ""}</span></li>)}
            </ul>
            <a href={`?t=${encodeURIComponent(isoTime(report.timeline_at))}`}>Open this moment on the timeline</a>
          </div>
        )}
      </div>
    </div>
  );
}
