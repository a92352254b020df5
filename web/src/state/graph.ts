// The live graph: entities and connections in Maps by id, changed in place by snapshots,
// deltas and metrics frames. Nothing here renders or re-renders React: the scene reads
// the Maps every frame and `revision` tells it (and the panels) that something changed.
import type {
  Connection, Delta, Entity, MetricsFrame, SourceStatus, Summary, Topology, TopologyChange,
} from "../api/types";

/** Timing of one applied delta, epoch milliseconds (performance.timeOrigin + now()). */
export interface DeltaTiming {
  version: number;
  observed_at: number | null; // when the source saw the change (ms)
  received_at: number;
  applied_at: number;
  rendered_at: number | null;
}

/**
 * Timing of one snapshot applied (a past moment while scrubbing, or the live topology),
 * epoch ms. Only the latest can reach the screen: one replaced before a frame showed it
 * keeps rendered_at null.
 */
export interface SnapshotTiming {
  version: number;
  /** The past moment it shows (epoch seconds); null for the live topology. */
  at: number | null;
  /** When the UI asked for it (the drag position's input), if it did. */
  asked_at: number | null;
  /** When its request went out and its answer was in (parsed), when it was fetched. */
  sent_at?: number;
  received_at?: number;
  applied_at: number;
  rendered_at: number | null;
}

const NO_EDGES: ReadonlySet<string> = new Set();

/** When a moment's request went out and its answer was in (epoch ms). */
export type Fetched = Pick<SnapshotTiming, "sent_at" | "received_at">;

export type DeltaResult = "applied" | "stale" | "gap";

export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Replace `target`'s fields by `source`'s, keeping the object (and so its identity). */
function replaceInPlace<T extends object>(target: T, source: T): T {
  for (const key of Object.keys(target)) {
    if (!(key in source)) delete (target as Record<string, unknown>)[key];
  }
  return Object.assign(target, source);
}

const MAX_TIMINGS = 5000;
/** Ids a change log holds at most before it gives up (the view is then built whole). */
const MAX_LOGGED = 100_000;

/**
 * What came, went or changed since the view last took it (GraphStore.takeChanges), so that
 * it can update itself instead of being rebuilt from the whole graph.
 */
export interface GraphChanges {
  /** Entities upserted or removed. */
  entities: Set<string>;
  /** Entities newly put in the Map, in the Map's order (one removed and added again moves
   * to the end of both). */
  addedEntities: Set<string>;
  /** Connections upserted or removed (with those removed because an end went). */
  edges: Set<string>;
  /** Connections newly put in the Map, in the Map's order. */
  addedEdges: Set<string>;
}

function emptyChanges(): GraphChanges {
  return { entities: new Set(), addedEntities: new Set(), edges: new Set(), addedEdges: new Set() };
}

/** Adds `id` at the end of an ordered set (moving it there if it was in it). */
function append(set: Set<string>, id: string): void {
  set.delete(id);
  set.add(id);
}

export class GraphStore {
  readonly entities = new Map<string, Entity>();
  readonly edges = new Map<string, Connection>();
  version = 0;
  summary: Summary | null = null;
  sources: SourceStatus[] = [];
  /** Bumped on any change; `structure` only when entities or edges come or go. */
  revision = 0;
  structure = 0;
  timings: DeltaTiming[] = [];
  /** Deltas applied since the last render, waiting for their rendered_at. */
  private unrendered: DeltaTiming[] = [];
  snapshots: SnapshotTiming[] = [];
  /** The last snapshot applied, until a frame built from `revision` (or later) shows it. */
  private unshown: { timing: SnapshotTiming; revision: number } | null = null;
  /** When the server last sent something (epoch ms), so an outage can say "data as of". */
  lastDataAt: number | null = null;
  /** Ids removed since the scene last looked (for fading them out). */
  removedSinceRender: Entity[] = [];
  /** Changes since the view last took them; null: everything (a snapshot, a long absence). */
  private changeLog: GraphChanges | null = null;
  private changeReader: object | null = null;
  /** Entities whose looks may have changed (fields, or connections that size them) since
   * the scene last restyled; null: all of them (a snapshot, a long absence). */
  private restyled: Set<string> | null = null;
  /** Entity id -> the connections it is an end of, built when first needed (a removal). */
  private ends: Map<string, Set<string>> | null = null;
  private listeners = new Set<() => void>();

  /**
   * The changes since `reader` last took them (null: rebuild from the whole graph), and a
   * fresh log. There is one log: a reader other than the last one gets null.
   */
  takeChanges(reader: object): GraphChanges | null {
    const changes = reader === this.changeReader ? this.changeLog : null;
    this.changeReader = reader;
    this.changeLog = emptyChanges();
    return changes;
  }

  /**
   * Entity ids whose colour, size or flags may have changed since the last call (null:
   * restyle everything), and a fresh log: the scene restyles those alone.
   */
  takeRestyled(): Set<string> | null {
    const ids = this.restyled;
    this.restyled = new Set();
    return ids;
  }

  private logRestyle(id: string): void {
    const log = this.restyled;
    if (!log) return;
    log.add(id);
    if (log.size > MAX_LOGGED) this.restyled = null;
  }

  /** The connections `id` is an end of (from an index kept while deltas come). */
  edgesOf(id: string): ReadonlySet<string> {
    return this.endIndex().get(id) ?? NO_EDGES;
  }

  private endIndex(): Map<string, Set<string>> {
    if (!this.ends) {
      this.ends = new Map();
      for (const edge of this.edges.values()) this.indexEnds(edge);
    }
    return this.ends;
  }

  private indexEnds(edge: Connection): void {
    for (const end of [edge.source_id, edge.target_id]) {
      let set = this.ends!.get(end);
      if (!set) this.ends!.set(end, (set = new Set()));
      set.add(edge.id);
    }
  }

  private unindexEnds(edge: Connection): void {
    for (const end of [edge.source_id, edge.target_id]) {
      const set = this.ends!.get(end);
      if (set && set.delete(edge.id) && set.size === 0) this.ends!.delete(end);
    }
  }

  private logChange(kind: "entities" | "edges", id: string, added: boolean): void {
    const log = this.changeLog;
    if (!log) return;
    log[kind].add(id);
    if (added) append(kind === "entities" ? log.addedEntities : log.addedEdges, id);
    if (log.entities.size + log.edges.size > MAX_LOGGED) this.changeLog = null;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(structural: boolean): void {
    this.lastDataAt = Date.now();
    this.revision += 1;
    if (structural) this.structure += 1;
    for (const listener of this.listeners) listener();
  }

  /**
   * A snapshot or resync: replace everything, keeping the objects of ids that stay. As a
   * delta, it is structural only when something came, went or regrouped: two moments
   * close together while scrubbing usually differ in fields only, and the scene restyles
   * instead of rebuilding the view (and reheating the layout).
   */
  applySnapshot(topology: Topology, askedAt: number | null = null, fetched?: Fetched): void {
    const seen = new Set<string>();
    let structural = false;
    for (const entity of topology.entities) {
      seen.add(entity.id);
      const existing = this.entities.get(entity.id);
      if (existing) {
        if (existing.kind !== entity.kind || existing.namespace !== entity.namespace) structural = true;
        replaceInPlace(existing, entity);
      } else {
        this.entities.set(entity.id, entity);
        structural = true;
      }
    }
    if (seen.size !== this.entities.size) {
      structural = true;
      for (const [id, entity] of this.entities) {
        if (!seen.has(id)) {
          this.entities.delete(id);
          this.removedSinceRender.push(entity);
        }
      }
    }
    seen.clear();
    for (const edge of topology.connections) {
      seen.add(edge.id);
      const existing = this.edges.get(edge.id);
      if (existing) {
        if (existing.kind !== edge.kind || existing.source_id !== edge.source_id || existing.target_id !== edge.target_id) structural = true;
        replaceInPlace(existing, edge);
      } else {
        this.edges.set(edge.id, edge);
        structural = true;
      }
    }
    if (seen.size !== this.edges.size) {
      structural = true;
      for (const id of [...this.edges.keys()]) if (!seen.has(id)) this.edges.delete(id);
    }
    this.changeLog = null; // the view is built whole after a snapshot
    this.restyled = null;
    this.ends = null;
    this.version = topology.version;
    if (topology.summary) this.summary = topology.summary;
    if (topology.sources) this.sources = topology.sources;
    this.changed(structural);
    this.shown({ version: topology.version, at: topology.at ?? null, asked_at: askedAt, ...fetched, applied_at: nowMs(), rendered_at: null });
  }

  /**
   * Take out entities and edges that the server never sent for the version held (a
   * comparison's ghosts), keeping the version: the live stream resumes from it, and no
   * delta after it would ever remove them.
   */
  forget(entities: Iterable<string>, edges: Iterable<string>): void {
    const structural = this.merge({ version: this.version, timestamp: 0, removals: [...entities], edge_removals: [...edges] });
    this.changed(structural);
  }

  /** Keep the timing of a snapshot (or change) applied, until a frame shows it. */
  private shown(timing: SnapshotTiming): void {
    this.snapshots.push(timing);
    if (this.snapshots.length > MAX_TIMINGS) this.snapshots.splice(0, this.snapshots.length - MAX_TIMINGS);
    this.unshown = { timing, revision: this.revision };
  }

  /** Apply one delta; a version that is not `current + 1` is a gap (or old news). */
  applyDelta(delta: Delta, receivedAt: number = nowMs()): DeltaResult {
    if (delta.version <= this.version) return "stale";
    if (delta.version !== this.version + 1) return "gap";
    const structural = this.merge(delta);
    this.version = delta.version;
    const timing: DeltaTiming = {
      version: delta.version,
      observed_at: delta.observed_at != null ? delta.observed_at * 1000 : null,
      received_at: receivedAt,
      applied_at: nowMs(),
      rendered_at: null,
    };
    this.timings.push(timing);
    if (this.timings.length > MAX_TIMINGS) this.timings.splice(0, this.timings.length - MAX_TIMINGS);
    this.unrendered.push(timing);
    this.changed(structural);
    return "applied";
  }

  /**
   * A past moment as the change from the one held (`?at=&since=`, while scrubbing): the
   * few entities and edges that differ, instead of a whole snapshot. Returns false, and
   * changes nothing, when the graph does not hold the version the change starts from.
   */
  applyChange(change: TopologyChange, askedAt: number | null = null, fetched?: Fetched): boolean {
    if (change.since_version !== this.version) return false;
    const structural = this.merge(change);
    this.version = change.version;
    if (change.summary) this.summary = change.summary;
    if (change.sources) this.sources = change.sources;
    this.changed(structural);
    this.shown({ version: change.version, at: change.at, asked_at: askedAt, ...fetched, applied_at: nowMs(), rendered_at: null });
    return true;
  }

  /**
   * Upserts and removals into the Maps, objects kept by id. Structural: something came
   * or went, or changed what the view groups by (kind, namespace, ends); a field change
   * (status, health, rates) only restyles.
   */
  private merge(delta: Delta): boolean {
    let structural = Boolean(delta.removals?.length || delta.edge_removals?.length);
    for (const entity of delta.upserts ?? []) {
      const existing = this.entities.get(entity.id);
      if (existing) {
        if (existing.kind !== entity.kind || existing.namespace !== entity.namespace) structural = true;
        replaceInPlace(existing, entity);
      } else {
        this.entities.set(entity.id, entity);
        structural = true;
      }
      this.logChange("entities", entity.id, !existing);
      this.logRestyle(entity.id);
    }
    for (const id of delta.removals ?? []) {
      const entity = this.entities.get(id);
      if (entity) {
        this.entities.delete(id);
        this.removedSinceRender.push(entity);
        this.logChange("entities", id, false);
      }
    }
    const ends = this.ends;
    for (const edge of delta.edge_upserts ?? []) {
      const existing = this.edges.get(edge.id);
      if (existing) {
        const moved = existing.source_id !== edge.source_id || existing.target_id !== edge.target_id;
        if (existing.kind !== edge.kind || moved) structural = true;
        if (ends && moved) this.unindexEnds(existing);
        if (moved) { this.logRestyle(existing.source_id); this.logRestyle(existing.target_id); }
        replaceInPlace(existing, edge);
        if (ends && moved) this.indexEnds(existing);
      } else {
        this.edges.set(edge.id, edge);
        if (ends) this.indexEnds(edge);
        structural = true;
      }
      this.logChange("edges", edge.id, !existing);
      // An entity's size may follow its number of connections.
      this.logRestyle(edge.source_id);
      this.logRestyle(edge.target_id);
    }
    for (const id of delta.edge_removals ?? []) this.removeEdge(id);
    // Connections never outlive an end: the server promises it, the view relies on it.
    // (Found through the index of ends: scanning every edge took most of a delta's time.)
    for (const id of delta.removals ?? []) {
      if (this.entities.has(id)) continue;
      const dangling = this.endIndex().get(id);
      if (dangling) for (const edgeId of [...dangling]) this.removeEdge(edgeId);
    }
    return structural;
  }

  private removeEdge(id: string): void {
    const edge = this.edges.get(id);
    if (!edge) return;
    this.edges.delete(id);
    if (this.ends) this.unindexEnds(edge);
    this.logChange("edges", id, false);
    this.logRestyle(edge.source_id);
    this.logRestyle(edge.target_id);
  }

  /** Merge a coalesced metrics frame into the entities it names. */
  applyMetrics(frame: MetricsFrame): void {
    for (const [id, values] of Object.entries(frame.values)) {
      const entity = this.entities.get(id);
      if (entity) {
        Object.assign(entity, values);
        this.logRestyle(id);
      }
    }
    this.changed(false);
  }

  setSources(sources: SourceStatus[]): void {
    this.sources = sources;
    this.changed(false);
  }

  /**
   * Called by the scene right after a frame; `upTo` is the version that frame's view was
   * built from (the scene may take in changes a little later than they were applied), and
   * `revision` the graph revision it took in (versions go back while scrubbing).
   */
  markRendered(at: number = nowMs(), upTo: number = this.version, revision: number = this.revision): void {
    if (this.unshown && this.unshown.revision <= revision) {
      this.unshown.timing.rendered_at = at;
      this.unshown = null;
    }
    let shown = 0;
    while (shown < this.unrendered.length && this.unrendered[shown].version <= upTo) {
      this.unrendered[shown].rendered_at = at;
      shown += 1;
    }
    this.unrendered.splice(0, shown);
  }

  /** Whether applied deltas wait for a frame that shows them. */
  get hasUnrendered(): boolean {
    return this.unrendered.length > 0;
  }
}
