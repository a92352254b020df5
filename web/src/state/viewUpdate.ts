// The view kept up to date from the graph's change log (GraphStore.takeChanges) instead of
// being built again from the whole graph on every structural delta: at 10,000 entities
// and 20,000 connections, buildView took most of a rebuild's time under churn, for deltas
// that touch a few dozen ids. The result is what buildView would return, in the same
// order; where keeping it so would need more than the changed ids (folding, the health
// filter, Code Mode's cycles and projected traffic, an old entity or connection coming
// into view in the middle of the order), it builds the whole view instead.
import type { Connection } from "../api/types";
import type { GraphChanges, GraphStore } from "./graph";
import type { Filters } from "./url";
import { type View, type ViewEdge, type ViewNode, buildView, matchesFilters } from "./view";

/** What an incremental update changed: by id, the node or edge now shown (null: gone). */
export interface ViewChanges {
  nodes: Map<string, ViewNode | null>;
  edges: Map<string, ViewEdge | null>;
}

export class ViewBuilder {
  private view: View | null = null;
  private key = "";
  /** Owner of each entity ("owns" edges), as buildView's `owners` finds it. */
  private parent = new Map<string, string>();
  /** Target -> its "owns" connections, in the graph's order (the last one is the owner). */
  private ownedBy = new Map<string, string[]>();
  /** Id -> target of every "owns" connection in `ownedBy`. */
  private ownsTarget = new Map<string, string>();
  /** Ids of the view's edges. */
  private edgeIds = new Set<string>();
  /** Whether the last update was incremental (for tests and the profile). */
  incremental = false;
  /** What the last update changed (for the layout's sync); null after a whole rebuild. */
  changes: ViewChanges | null = null;

  build(
    graph: GraphStore,
    filters: Filters,
    maxEntities: number,
    expanded: ReadonlySet<string>,
    only: ReadonlySet<string> | null = null,
  ): View {
    const changes = graph.takeChanges(this);
    const key = JSON.stringify([filters.kinds, filters.namespaces, filters.sources, filters.health, filters.mode, maxEntities, [...expanded], only && [...only]]);
    const simple = filters.mode === "live" && filters.health.length === 0;
    let view: View | null = null;
    if (this.view && changes && key === this.key && simple && !this.view.nodes.some((n) => n.members)) {
      view = this.update(this.view, graph, changes, filters, maxEntities, only);
    }
    this.incremental = view !== null;
    if (!view) {
      this.changes = null;
      view = buildView(graph.entities, graph.edges, filters, maxEntities, expanded, only);
      this.indexOwners(graph.edges);
      this.edgeIds = new Set(view.edges.map((e) => e.id));
    }
    this.view = view;
    this.key = key;
    return view;
  }

  private indexOwners(edges: Map<string, Connection>): void {
    this.parent = new Map();
    this.ownedBy = new Map();
    this.ownsTarget = new Map();
    for (const edge of edges.values()) {
      if (edge.kind !== "owns") continue;
      this.parent.set(edge.target_id, edge.source_id);
      const list = this.ownedBy.get(edge.target_id);
      if (list) list.push(edge.id);
      else this.ownedBy.set(edge.target_id, [edge.id]);
      this.ownsTarget.set(edge.id, edge.target_id);
    }
  }

  /** The view updated by `changes`; null where only a whole rebuild gives buildView's result. */
  private update(prev: View, graph: GraphStore, changes: GraphChanges, filters: Filters, maxEntities: number, only: ReadonlySet<string> | null): View | null {
    const { entities, edges } = graph;
    // Owners first: a new node's `near` is its owner.
    const reowned = new Set<string>();
    for (const id of changes.edges) {
      const edge = edges.get(id);
      const before = this.ownsTarget.get(id);
      const now = edge?.kind === "owns" ? edge.target_id : undefined;
      const added = changes.addedEdges.has(id);
      // An "owns" connection changed in place keeps its place in the graph's order.
      if (!added && edge && before !== now) return null;
      if (before === undefined && now === undefined) continue;
      if (before !== undefined && (added || !edge)) {
        const list = this.ownedBy.get(before)!;
        list.splice(list.indexOf(id), 1);
        if (!list.length) this.ownedBy.delete(before);
        this.ownsTarget.delete(id);
        reowned.add(before);
      }
      if (now !== undefined && added) {
        const list = this.ownedBy.get(now);
        if (list) list.push(id);
        else this.ownedBy.set(now, [id]);
        this.ownsTarget.set(id, now);
        reowned.add(now);
      }
    }
    // addedEdges is in the graph's order; a list fed from it in that order is too, except
    // where an edge added earlier than another in this log was pushed later: re-sort the
    // lists touched by the order of the graph's added ids.
    if (reowned.size) {
      const rank = new Map<string, number>();
      let k = 0;
      for (const id of changes.addedEdges) rank.set(id, k++);
      for (const target of reowned) {
        const list = this.ownedBy.get(target);
        if (list && list.length > 1) {
          const old = list.filter((id) => !rank.has(id));
          const fresh = list.filter((id) => rank.has(id)).sort((a, b) => rank.get(a)! - rank.get(b)!);
          this.ownedBy.set(target, [...old, ...fresh]);
        }
        const owners = this.ownedBy.get(target);
        if (owners) this.parent.set(target, edges.get(owners[owners.length - 1])!.source_id);
        else this.parent.delete(target);
      }
    }

    // Nodes: which go (removed, filtered out now, or added again: those move to the end).
    const shownAs = prev.shownAs;
    const gone = new Set<string>();
    let count = prev.nodes.length;
    for (const id of changes.entities) {
      const entity = entities.get(id);
      const visible = entity !== undefined && matchesFilters(entity, filters) && (only === null || only.has(id));
      const shown = shownAs.has(id);
      const added = changes.addedEntities.has(id);
      if (shown && (!visible || added)) { gone.add(id); count -= 1; }
      // An old entity coming into view takes its place in the middle of the order.
      if (!shown && visible && !added) return null;
    }
    const changedNodes = new Map<string, ViewNode | null>();
    const changedEdges = new Map<string, ViewEdge | null>();
    const appended: ViewNode[] = [];
    for (const id of changes.addedEntities) {
      const entity = entities.get(id);
      if (!entity || !matchesFilters(entity, filters) || (only !== null && !only.has(id))) continue;
      appended.push({ id, entity, near: this.parent.get(id) });
    }
    count += appended.length;
    // Over the limit, groups fold: that is buildView's to decide.
    if (count > maxEntities) return null;

    for (const id of gone) { shownAs.delete(id); changedNodes.set(id, null); }
    for (const node of appended) { shownAs.set(node.id, node.id); changedNodes.set(node.id, node); }
    // Entities changed in place (their group, their site) and owners changed, for the layout.
    for (const id of changes.entities) {
      const entity = entities.get(id);
      if (entity && shownAs.has(id) && !changedNodes.has(id)) changedNodes.set(id, { id, entity, near: this.parent.get(id) });
    }
    const renear = [...reowned].filter((id) => shownAs.has(id) && !gone.has(id));
    let nodes = prev.nodes;
    if (gone.size || renear.length) {
      const near = new Set(renear);
      nodes = [];
      for (const node of prev.nodes) {
        if (gone.has(node.id)) continue;
        const owner = this.parent.get(node.id);
        nodes.push(near.has(node.id) && node.near !== owner ? { id: node.id, entity: node.entity, near: owner } : node);
      }
    } else if (appended.length) nodes = prev.nodes.slice();
    for (const node of appended) nodes.push(node);

    // Edges: an old one that comes into view (its end came back) would take its place in
    // the middle of the order.
    for (const node of appended) {
      for (const id of graph.edgesOf(node.id)) {
        if (changes.addedEdges.has(id) || this.edgeIds.has(id)) continue;
        if (this.viewEdge(edges.get(id), shownAs)) return null;
      }
    }
    const degree = prev.degree;
    const bump = (id: string, by: number) => {
      const d = (degree.get(id) ?? 0) + by;
      if (d) degree.set(id, d);
      else degree.delete(id);
    };
    const replaced = new Map<string, ViewEdge | null>(); // null: drop
    for (const id of changes.edges) {
      const edge = edges.get(id);
      const wasShown = this.edgeIds.has(id);
      const added = changes.addedEdges.has(id);
      if (added || !edge) {
        if (wasShown) replaced.set(id, null);
        continue;
      }
      const next = this.viewEdge(edge, shownAs);
      if (wasShown) replaced.set(id, next);
      else if (next) return null; // an old edge coming into view, in the middle
    }
    let viewEdges = prev.edges;
    if (gone.size || replaced.size) {
      viewEdges = [];
      for (const e of prev.edges) {
        let next: ViewEdge | null = e;
        if (replaced.has(e.id)) next = replaced.get(e.id)!;
        if (next && (gone.has(next.source) || gone.has(next.target))) next = null;
        if (next !== e) {
          bump(e.source, -1); bump(e.target, -1);
          if (next) { bump(next.source, 1); bump(next.target, 1); } else this.edgeIds.delete(e.id);
          changedEdges.set(e.id, next);
        }
        if (next) viewEdges.push(next);
      }
    }
    let copied = viewEdges !== prev.edges;
    for (const id of changes.addedEdges) {
      const next = this.viewEdge(edges.get(id), shownAs);
      if (!next) continue;
      if (!copied) { viewEdges = prev.edges.slice(); copied = true; }
      viewEdges.push(next);
      this.edgeIds.add(id);
      bump(next.source, 1); bump(next.target, 1);
      changedEdges.set(id, next);
    }
    this.changes = { nodes: changedNodes, edges: changedEdges };
    return { nodes, edges: viewEdges, shownAs, degree };
  }

  /** The view edge of `edge` (no folding: its own ends), null where an end is not shown. */
  private viewEdge(edge: Connection | undefined, shownAs: Map<string, string>): ViewEdge | null {
    if (!edge) return null;
    const source = shownAs.get(edge.source_id);
    const target = shownAs.get(edge.target_id);
    if (!source || !target || source === target) return null;
    return { id: edge.id, source, target, edge };
  }
}
