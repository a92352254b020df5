// Stream wiring: the topology and event streams into the GraphStore and the UI store, the
// panels' throttled view of the graph, alerts and the server's visualization config.
import { apiUrl, api } from "../api/http";
import { MAX_EVENTS, missedSince } from "../state/events";
import type { GraphStore } from "../state/graph";
import { timeFromUrl, useTime } from "../state/time";
import { useUi } from "../state/ui";
import { openEventStream } from "./eventStream";
import { startInsight } from "./insight";
import { useSnapshot } from "./snapshotFile";
import { type Travel, startTravel } from "./travel";
import { TopologyStream } from "./topologyStream";

/** Entities beyond which the panels follow the graph once a second. */
const PANEL_SCALE = 5000;

export interface Live {
  readonly topology: TopologyStream;
  /** Stop following the server (a snapshot file is shown instead). */
  stop: () => void;
}

export function startLive(graph: GraphStore): Live {
  const topology = new TopologyStream(graph, {
    url: apiUrl("/api/infra/topology/stream"),
    onStatus: (status) => useUi.setState({ status }),
  });
  topology.start();
  // The first batch (the replay of recent events) is not "new"; what follows is.
  let first = true;
  // Back after a drop (a server restart): the stream replays what its ring still holds;
  // the history has the rest, from the newest event the feed holds on.
  const fillMissed = () => {
    const since = missedSince(useUi.getState().events);
    if (since === null || useTime.getState().at !== null) return;
    api.eventsSince(since, MAX_EVENTS).then(({ events }) => {
      if (useTime.getState().at === null) useUi.getState().addEvents(events, true);
    }).catch(() => undefined);
  };
  const closeEvents = openEventStream(apiUrl("/api/infra/events/stream"), (events) => {
    // Looking at the past: the feed shows that moment (reloaded on the way back).
    if (useTime.getState().at !== null) return;
    useUi.getState().addEvents(events, !first);
    first = false;
  }, { onResume: fillMissed });
  // Panels follow the graph at a human pace, not at the delta rate: 4 times a second, and
  // once a second over PANEL_SCALE entities, where their counts go over the whole graph
  // (at 10,000 entities, 4 a second took about 7% of the page's main thread).
  let seen = -1;
  let published = 0;
  let snapshots = 0;
  let logId: string | null = null;
  setInterval(() => {
    const now = performance.now();
    const pace = graph.entities.size > PANEL_SCALE ? 1000 : 0;
    if (graph.revision !== seen && now - published >= pace - 50) {
      seen = graph.revision;
      published = now;
      useUi.setState({ graphRevision: seen });
    }
    // A new snapshot after the first (the server restarted, or this page fell too far
    // behind). The same change log is the same world: the feed keeps its history. Another
    // log is another world (another server on this address): events of entities not in it
    // go, and wherever the camera was looking is not in it either: frame the new map.
    if (topology.snapshots > snapshots) {
      const sameLog = topology.logId === logId;
      if (snapshots > 0) useUi.getState().eventsAfterSnapshot(sameLog, (id) => graph.entities.has(id));
      if (snapshots > 0 && !sameLog) useUi.getState().requestFit();
      snapshots = topology.snapshots;
      logId = topology.logId;
    }
  }, 250);
  const loadAlerts = () => {
    if (useTime.getState().at !== null) return; // the past's alerts are travel's
    if (useSnapshot.getState().open?.origin === "file") return; // the file's alerts
    api.alerts().then(({ alerts }) => { if (useTime.getState().at === null) useUi.setState({ alerts }); })
      .catch(() => undefined);
  };
  loadAlerts();
  setInterval(loadAlerts, 5000);
  api.config().then(({ visualization, checks, snapshot, site }) => {
    // `gestalt serve --open-snapshot`: the server shows a snapshot; the badge says so.
    if (snapshot && !useSnapshot.getState().open) useSnapshot.setState({ open: { file: snapshot.file, at: snapshot.at, origin: "server" } });
    const ui = useUi.getState();
    const fromUrl = new URLSearchParams(window.location.search).get("layout");
    useUi.setState({ config: visualization, checks: checks ?? {}, ...(site ? { site } : {}) });
    if (!fromUrl && visualization.layout_algorithm.includes("namespace")) ui.setLayout("namespace");
  }).catch(() => undefined);
  startInsight();
  const live: Live = {
    topology,
    stop: () => {
      topology.stop();
      closeEvents();
      travel.stop();
    },
  };
  const travel: Travel = startTravel(graph, live);
  // A shared link with `?t=`: open at that moment.
  const moment = timeFromUrl(window.location.search);
  if (moment && "at" in moment) travel.goTo(moment.at);
  else if (moment) {
    // Not silently live: say what was ignored and why, and drop it from the link.
    useTime.setState({ urlNotice: `Ignored t=${moment.bad} in the link (${moment.why}); showing live.` });
    const params = new URLSearchParams(window.location.search);
    params.delete("t");
    const text = params.toString();
    window.history.replaceState(null, "", `${window.location.pathname}${text ? `?${text}` : ""}`);
  }
  return live;
}
