// Snapshot files (GET /api/infra/snapshot) shown read-only, as `gestalt serve
// --open-snapshot` shows them: dropped on the page, a file replaces the live map with its
// moment (topology, alerts, events, and the metric samples the panels ask for), the live
// streams stop, and a "snapshot" badge says so. A file that is not a snapshot this page
// can read gets a one-line message naming the file, and the map stays as it was.
import { create } from "zustand";
import { localAnswers } from "../api/http";
import type { Alert, Connection, Entity, InfraEvent, Topology } from "../api/types";
import type { GraphStore } from "../state/graph";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import type { Live } from "./start";

export const SNAPSHOT_FORMAT = "gestalt-snapshot";
/** The newest snapshot_schema this page reads (api/snapshots.py SNAPSHOT_SCHEMA). */
export const SNAPSHOT_SCHEMA = 1;
export const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;

export interface SnapshotFile {
  format: string;
  snapshot_schema: number;
  at: number;
  created_at?: number;
  gestalt_version?: string;
  topology: { version: number; timestamp: number; entities: Entity[]; connections: Connection[] };
  events?: InfraEvent[];
  metrics?: Record<string, Record<string, [number, number][]>>;
  alerts?: Alert[];
}

/** The snapshot shown: from a dropped file, or the one the server was started with. */
export interface OpenSnapshot { file: string; at: number; origin: "file" | "server" }

export const useSnapshot = create<{ open: OpenSnapshot | null; error: string | null }>(() => ({ open: null, error: null }));

/** The file's text as a snapshot, or an Error whose message is one line naming the file. */
export function parseSnapshot(name: string, text: string): SnapshotFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${name}: not a Gestalt snapshot (not JSON); download one with the Snapshot button`);
  }
  const head = data as Partial<SnapshotFile> | null;
  if (!head || typeof head !== "object" || head.format !== SNAPSHOT_FORMAT) {
    throw new Error(`${name}: not a Gestalt snapshot (no "format": "${SNAPSHOT_FORMAT}"); download one with the Snapshot button`);
  }
  if (typeof head.snapshot_schema !== "number" || head.snapshot_schema > SNAPSHOT_SCHEMA) {
    throw new Error(`${name}: snapshot schema ${String(head.snapshot_schema)} is newer than this Gestalt reads (${SNAPSHOT_SCHEMA}): open it with a newer version`);
  }
  const top = head.topology;
  if (typeof head.at !== "number" || !top || !Array.isArray(top.entities) || !Array.isArray(top.connections)) {
    throw new Error(`${name}: a damaged snapshot (no moment or no topology)`);
  }
  return head as SnapshotFile;
}

/** Read a dropped file and show it; a bad one only sets `error`. */
export async function openSnapshotFile(file: File, graph: GraphStore, live: Live): Promise<void> {
  try {
    if (file.size > MAX_SNAPSHOT_BYTES) throw new Error(`${file.name}: ${file.size} bytes is larger than a snapshot can be`);
    showSnapshot(file.name, parseSnapshot(file.name, await file.text()), graph, live);
  } catch (error) {
    useSnapshot.setState({ error: (error as Error).message });
  }
}

export function showSnapshot(name: string, snapshot: SnapshotFile, graph: GraphStore, live: Live): void {
  live.stop();
  useTime.setState({ at: null, playing: false, diff: null, ghosts: null, compareFrom: null, shown: null });
  const { topology } = snapshot;
  graph.applySnapshot({ ...topology, at: snapshot.at } as Topology);
  const events = snapshot.events ?? [];
  useUi.setState({ alerts: snapshot.alerts ?? [], events: [], freshEvents: {} });
  useUi.getState().addEvents(events, false);
  const edges = topology.connections;
  localAnswers.entity = (id) => {
    const entity = topology.entities.find((e) => e.id === id);
    return entity ? {
      entity, incoming: edges.filter((c) => c.target_id === id), outgoing: edges.filter((c) => c.source_id === id),
      events: events.filter((e) => e.entity_id === id),
    } : null;
  };
  localAnswers.metrics = (id) => ({ entity_id: id, series: snapshot.metrics?.[id] ?? {} });
  useSnapshot.setState({ open: { file: name, at: snapshot.at, origin: "file" }, error: null });
}

/** A file dropped anywhere on the page is opened as a snapshot. */
export function installSnapshotDrop(graph: GraphStore, live: Live): void {
  const carriesFiles = (ev: DragEvent) => Array.from(ev.dataTransfer?.types ?? []).includes("Files");
  window.addEventListener("dragover", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault(); // allows the drop (and keeps the browser from opening the file)
    if (ev.dataTransfer) ev.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", (ev) => {
    if (!carriesFiles(ev)) return;
    ev.preventDefault();
    const file = ev.dataTransfer?.files[0];
    if (file) void openSnapshotFile(file, graph, live);
  });
}
