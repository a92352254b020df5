// A lost connection to the server must not look like a quiet system: a banner says since
// when the data is old, and the map and the health headline go grey until it resyncs.
import { useEffect, useState } from "react";
import { useGraph } from "../state/graphContext";
import { useUi } from "../state/ui";

/** A reconnect this quick is a blip, not an outage. */
const GRACE_MS = 1500;

export function useDisconnected(): boolean {
  const status = useUi((s) => s.status);
  const [down, setDown] = useState(false);
  useEffect(() => {
    if (status === "live" || status === "connecting") { setDown(false); return; }
    const t = setTimeout(() => setDown(true), GRACE_MS);
    return () => clearTimeout(t);
  }, [status]);
  return down;
}

export const clock = (ms: number) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false });

export function OutageBanner({ down }: { down: boolean }) {
  const graph = useGraph();
  if (!down) return null;
  const since = graph.lastDataAt;
  return (
    <div className="outage" role="alert" data-testid="outage" data-obstacle>
      <b>Disconnected</b> from the Gestalt server{since ? <> — data as of <time>{clock(since)}</time></> : null}. Reconnecting…
    </div>
  );
}
