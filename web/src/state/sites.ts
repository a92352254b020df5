// Federated sites (docs/federation.md): each agent's site is a source `site:<name>` whose
// status carries details (agent, lag, last keyframe, drops, refused messages). Pure, so
// that the health summary's words are tested without a browser.
import type { SourceStatus } from "../api/types";

export interface SiteState {
  name: string;
  state: SourceStatus["state"];
  /** What the list shows: the state, or "refused" when the NATS server refuses its agent. */
  label: string;
  reason: string;
  words: string[];
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

export function isSite(status: SourceStatus): boolean {
  return status.name.startsWith("site:");
}

/** A site's state in a few words: connected or not, lag, last keyframe, drops, refusals. */
export function siteState(status: SourceStatus, clock: (ms: number) => string): SiteState {
  const d = status.details ?? {};
  const words: string[] = [];
  const agentRefused = d.refused === true;
  // The server's advisories (collectors.agents.system) say it refuses the site's agent.
  if (agentRefused) words.push(`agent refused by NATS: ${typeof d.refused_reason === "string" ? d.refused_reason : "?"}`);
  else words.push(d.connected && !d.silent ? "agent connected" : d.silent ? "agent silent" : "not connected");
  const lagS = num(d.lag_seconds);
  const lagV = num(d.lag_versions);
  if (!d.silent && (lagS != null || lagV)) words.push(`lag ${lagS != null ? `${lagS < 10 ? lagS.toFixed(1) : Math.round(lagS)} s` : "?"}`
    + `${lagV ? ` / ${lagV} versions` : ""}`);
  const keyframe = num(d.last_keyframe);
  if (keyframe != null) words.push(`keyframe ${clock(keyframe * 1000)}`);
  const dropped = num(d.agent_dropped);
  if (dropped) words.push(`${dropped} dropped by the agent`);
  const refused = num(d.rejected);
  if (refused) words.push(`${refused} refused${typeof d.last_rejected === "string" ? ` (${d.last_rejected})` : ""}`);
  return { name: status.name.slice(5), state: status.state, label: agentRefused ? "refused" : status.state,
    reason: status.reason ?? "", words };
}

/** The sites, live state from the stream (`sources` frames) with the freshest details. */
export function mergeSites(live: SourceStatus[], polled: SourceStatus[] | null): SourceStatus[] {
  const fresh = new Map((polled ?? []).map((s) => [s.name, s]));
  return live.filter(isSite).map((s) => ({ ...s, details: fresh.get(s.name)?.details ?? s.details }));
}
