// Each federated site in the health summary: its state and, from its agent, whether it is
// connected, how far behind, its last keyframe, what it dropped and what was refused.
// Lag moves without the site's state changing, so its details are polled while shown.
import { useEffect, useState } from "react";
import { api } from "../api/http";
import type { SourceStatus } from "../api/types";
import { useGraph } from "../state/graphContext";
import { isSite, mergeSites, siteState } from "../state/sites";
import { useUi } from "../state/ui";
import { clock } from "./OutageBanner";

const POLL_MS = 5000;

export function SitesSummary() {
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const any = graph.sources.some(isSite);
  const [polled, setPolled] = useState<SourceStatus[] | null>(null);
  useEffect(() => {
    if (!any) return;
    let stopped = false;
    const poll = () => api.health().then((h) => { if (!stopped) setPolled(h.sources); }, () => undefined);
    poll();
    const timer = window.setInterval(poll, POLL_MS);
    return () => { stopped = true; window.clearInterval(timer); };
  }, [any]);
  if (!any) return null;
  const sites = mergeSites(graph.sources, polled).map((s) => siteState(s, clock));
  return (
    <ul className="sites" data-testid="sites" aria-label="Sites">
      {sites.map((s) => (
        <li key={s.name} data-site={s.name} data-state={s.state} data-label={s.label} title={s.reason}>
          <span className={`site-dot s-${s.state}`} /> <b>{s.name}</b> <span className="muted">{s.label}</span>
          <span className="site-words">{s.words.join(" · ")}</span>
        </li>
      ))}
    </ul>
  );
}
