// Time travel: leave the live stream for a past moment (the topology, alerts and events
// as they were, from history), scrub, play at 1x/10x/60x, step between recorded changes,
// compare two moments, and come back to live. The map follows while dragging: one
// request is out, positions asked meanwhile are merged into the latest, and each moment
// after the first comes as the change from the one shown (the server's `?at=&since=`).
// (Two in flight were tried, for whole topologies and again for changes: on a machine
// short of CPU the two answers came back together, twice as late, and the map drew
// fewer frames: 4.7 against 7.5 a second at a load of 17.)
import { api } from "../api/http";
import { withGhosts } from "../state/compare";
import { type GraphStore, nowMs } from "../state/graph";
import { type Speed, useTime } from "../state/time";
import { useUi } from "../state/ui";
import type { Live } from "./start";

const PLAY_TICK_MS = 250;
const TIMELINE_REFRESH_MS = 10_000;
// Alerts and events follow once the position has rested this long: while dragging they
// would compete with the map's requests for the server.
const PANELS_REST_MS = 400;

export interface Travel {
  goTo: (at: number) => void;
  backToLive: () => void;
  play: () => void;
  pause: () => void;
  setSpeed: (speed: Speed) => void;
  step: (direction: -1 | 1) => void;
  markCompare: () => void;
  compare: () => void;
  clearCompare: () => void;
  refreshTimeline: () => Promise<void>;
  /** Stop for good (a snapshot file is shown instead of the server's history). */
  stop: () => void;
}

/** The one Travel of the page; panels call it (set by startTravel). */
export let travel: Travel | null = null;

export function startTravel(graph: GraphStore, live: Live): Travel {
  let inflight = false;
  // Bumped when the answer out no longer matters (back to live, stopped).
  let epoch = 0;
  // The latest position asked while the request was out, and when it was asked (epoch ms).
  let pending: { at: number; askedAt: number } | null = null;
  let player: ReturnType<typeof setInterval> | null = null;

  // The past moment the map holds as the server answered it (no comparison ghosts, no
  // live frames since): the next moment is asked as the change from it (`?at=&since=`), a
  // few entities instead of the whole topology to fetch, parse and merge.
  let held: { at: number; version: number } | null = null;

  /** Whether the map at `at` shows comparison ghosts (so it needs the whole topology). */
  const ghosted = (at: number) => {
    const { diff } = useTime.getState();
    return diff !== null && Math.abs(diff.to - at) < 1e-3;
  };

  /** Whether an answer asked in `epoch` `ours` may still be shown. */
  const current = (ours: number) => ours === epoch && useTime.getState().at !== null;

  /** Fetch the moment `at` and apply it, unless the page moved on (`ours` is not current). */
  const fetchAndApply = async (at: number, askedAt: number, ours: number): Promise<void> => {
    const since = ghosted(at) || held?.version !== graph.version ? null : held.at;
    let sent = nowMs();
    // A change that cannot be had (the moment held aged out of history) is asked again
    // whole below, which says why if it fails too.
    const change = since !== null ? await api.topologySince(at, since).catch(() => null) : null;
    if (!current(ours)) return;
    if (change && !ghosted(at) && graph.applyChange(change, askedAt, { sent_at: sent, received_at: nowMs() })) {
      held = { at, version: change.version };
      useTime.setState({ shown: { version: change.version, gap: change.gap?.message ?? null }, ghosts: null, error: null });
      return;
    }
    sent = nowMs();
    const topology = await api.topology(at);
    const received = nowMs();
    if (!current(ours)) return;
    const { diff } = useTime.getState();
    // Comparing: at the later moment, what was removed since the earlier one is a ghost.
    const shown = ghosted(at) && diff ? withGhosts(topology, diff) : { topology, ghosts: null };
    graph.applySnapshot(shown.topology, askedAt, { sent_at: sent, received_at: received });
    held = shown.ghosts ? null : { at, version: topology.version };
    useTime.setState({ shown: { version: topology.version, gap: topology.gap?.message ?? null }, ghosts: shown.ghosts, error: null });
  };

  const show = async (at: number, askedAt: number = nowMs()): Promise<void> => {
    if (inflight) { pending = { at, askedAt }; return; }
    inflight = true;
    const ours = epoch;
    try {
      await fetchAndApply(at, askedAt, ours);
    } catch (error) {
      if (ours === epoch) useTime.setState({ error: (error as Error).message });
    } finally {
      inflight = false;
    }
    if (pending !== null) {
      const next = pending;
      pending = null;
      await show(next.at, next.askedAt);
    }
  };

  // Panels other than the map: alerts and the event feed as they stood (not per pixel of
  // a drag: once the position rests for a moment).
  let panelsTimer: ReturnType<typeof setTimeout> | null = null;
  const loadPanels = (at: number) => {
    if (panelsTimer) clearTimeout(panelsTimer);
    panelsTimer = setTimeout(() => {
      api.alerts(at).then(({ alerts }) => { if (useTime.getState().at !== null) useUi.setState({ alerts }); })
        .catch(() => undefined);
      api.events(100, at).then(({ events }) => {
        if (useTime.getState().at === null) return;
        useUi.setState({ events: [], freshEvents: {} });
        useUi.getState().addEvents(events, false);
      }).catch(() => undefined);
    }, PANELS_REST_MS);
  };

  const goTo = (at: number) => {
    const now = Date.now() / 1000;
    if (at >= now) { self.backToLive(); return; }
    const oldest = useTime.getState().timeline?.oldest;
    const moment = oldest != null ? Math.max(at, oldest) : at;
    if (useTime.getState().at === null) live.topology.stop();
    useTime.setState({ at: moment });
    void show(moment);
    loadPanels(moment);
  };

  const stopPlayer = () => {
    if (player) clearInterval(player);
    player = null;
  };

  const self: Travel = {
    goTo,
    backToLive: () => {
      stopPlayer();
      pending = null;
      held = null;
      epoch += 1;
      // Live ends a comparison shown (a moment picked and not compared yet stays: it can
      // be compared with now). Its ghosts go first: the stream resumes from the version
      // shown, and nothing after that version removes what the server never sent for it.
      const { ghosts, diff } = useTime.getState();
      if (ghosts) graph.forget(ghosts.entities, ghosts.edges);
      useTime.setState({
        at: null, playing: false, shown: null, error: null, ghosts: null,
        ...(diff ? { diff: null, compareFrom: null } : {}),
      });
      live.topology.stop();
      live.topology.start(); // resumes from the version shown, or a fresh snapshot
      api.alerts().then(({ alerts }) => useUi.setState({ alerts })).catch(() => undefined);
      api.events(100).then(({ events }) => {
        useUi.setState({ events: [], freshEvents: {} });
        useUi.getState().addEvents(events, false);
      }).catch(() => undefined);
    },
    play: () => {
      const start = useTime.getState().at ?? useTime.getState().timeline?.oldest;
      if (start == null) return;
      if (useTime.getState().at === null) goTo(start);
      stopPlayer();
      useTime.setState({ playing: true });
      player = setInterval(() => {
        const { at, speed } = useTime.getState();
        if (at === null) { stopPlayer(); return; }
        goTo(at + (PLAY_TICK_MS / 1000) * speed);
      }, PLAY_TICK_MS);
    },
    pause: () => { stopPlayer(); useTime.setState({ playing: false }); },
    setSpeed: (speed) => useTime.setState({ speed }),
    step: (direction) => {
      const { at, timeline } = useTime.getState();
      const changes = timeline?.changes ?? [];
      const here = at ?? Date.now() / 1000;
      const target = direction < 0
        ? [...changes].reverse().find((c) => c.at < here - 1e-3)
        : changes.find((c) => c.at > here + 1e-3);
      if (target) goTo(target.at);
      else if (direction > 0) self.backToLive();
    },
    markCompare: () => useTime.setState({ compareFrom: useTime.getState().at ?? Date.now() / 1000, diff: null }),
    compare: () => {
      const { compareFrom, at } = useTime.getState();
      if (compareFrom == null) return;
      const other = at ?? Date.now() / 1000 - 1;
      api.diff(Math.min(compareFrom, other), Math.max(compareFrom, other))
        .then((diff) => {
          // The map shows the later moment, what changed since the earlier one marked.
          useTime.setState({ diff, error: null });
          stopPlayer();
          useTime.setState({ playing: false });
          goTo(diff.to);
        })
        .catch((error: Error) => useTime.setState({ error: error.message }));
    },
    clearCompare: () => {
      const { at, diff } = useTime.getState();
      useTime.setState({ compareFrom: null, diff: null });
      if (diff && at !== null) void show(at); // without the ghosts
    },
    refreshTimeline: () => api.timeline().then((timeline) => useTime.setState({ timeline })).catch(() => undefined),
    stop: () => {
      stopPlayer();
      pending = null;
      held = null;
      epoch += 1;
      clearInterval(refresher);
    },
  };
  travel = self;
  void self.refreshTimeline();
  const refresher = setInterval(() => void self.refreshTimeline(), TIMELINE_REFRESH_MS);
  return self;
}
