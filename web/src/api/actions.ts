// The actions API (docs/actions.md): what may be done, the blast radius, running an
// experiment and its report. Acting needs the operator token, sent in its own header; the
// page never stores it beyond the tab (sessionStorage), and the viewer token alone cannot act.
import { apiUrl } from "./http";

export interface ActionsInfo {
  enabled: boolean;
  actions: string[];
  kubernetes: boolean;
  docker: boolean;
  nats: string;
}

export interface EntityRow { id: string; name?: string; kind?: string; namespace?: string | null; health?: string }
export interface Preview { target: EntityRow; blast_radius: EntityRow[] }
export interface AuditEntry { id: number; at: number; action: string; target: string; outcome: string; message: string; params: Record<string, unknown> }
export interface RunResult { experiment: string; preview: Preview; entry: AuditEntry }
export interface Affected { id: string; name: string; kind: string; worst: string; bad_at: number; ok_at: number | null; reasons: string[] }
export interface Report {
  experiment: string; action: string; target: string; started_at: number;
  detected_at: number | null; recovered_at: number | null;
  time_to_detect: number | null; time_to_recover: number | null;
  affected: Affected[]; actions: AuditEntry[]; timeline_at: number;
}

/** Which actions fit an entity, by the kind of its id. */
export function actionsFor(entityId: string, info: ActionsInfo): string[] {
  const kind = entityId.split(":", 1)[0];
  const fits: Record<string, string[]> = {
    pod: ["delete_pod"], deployment: ["scale"], node: ["cordon", "uncordon"],
    container: ["stop", "kill", "pause", "unpause", "restart"],
  };
  return (fits[kind] ?? []).filter((a) => info.actions.includes(a));
}

const TOKEN_KEY = "gestalt.operatorToken";
export const operatorToken = {
  get: (): string => { try { return window.sessionStorage.getItem(TOKEN_KEY) ?? ""; } catch { return ""; } },
  set: (value: string) => { try { window.sessionStorage.setItem(TOKEN_KEY, value); } catch { /* private mode */ } },
};

async function call<T>(method: "GET" | "POST", path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token) headers["X-Gestalt-Operator-Token"] = token;
  const response = await fetch(apiUrl(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = await response.json().catch(() => null) as (T & { error?: string; detail?: string }) | null;
  if (!response.ok) throw new Error(answer?.error ?? answer?.detail ?? `${path}: HTTP ${response.status}`);
  return answer as T;
}

export interface ActionBody { action: string; target: string; replicas?: number; dry_run?: boolean; experiment?: string }

export const actionsApi = {
  info: () => call<ActionsInfo>("GET", "/api/actions"),
  preview: (target: string) => call<Preview>("POST", "/api/actions/experiments/preview", { target }),
  run: (body: ActionBody, token: string) => call<RunResult>("POST", "/api/actions/experiments", body, token),
  act: (body: ActionBody, token: string) => call<AuditEntry>("POST", "/api/actions", body, token),
  report: (experiment: string) => call<Report>("GET", `/api/actions/experiments/${experiment}/report`),
};
