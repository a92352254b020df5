// Where a view's nodes and edges were in the last view, so that the scene carries over
// what each had (position, shape, namespace ring, style, edge ends) instead of working it
// out by id again: lookups by id, 10,000 of each per rebuild, were most of a rebuild's
// time. A view updated from the graph's changes keeps its order (what went drops out,
// what came is last): walking both finds nearly everything by place, the rest by id.
import type { ViewEdge, ViewNode } from "../state/view";
import { indexNamespaces, namespaceKey } from "../state/groups";

export interface Places {
  /** New node -> its old place, -1 for a new node. */
  oldOf: Int32Array;
  /** Old node -> its new place, -1 for one gone. */
  newOf: Int32Array;
}

/** Matches nodes to their old places and updates `index` (id -> place) to the new ones. */
export function matchNodes(oldNodes: readonly ViewNode[], nodes: readonly ViewNode[], index: Map<string, number>): Places {
  const n = nodes.length;
  const oldOf = new Int32Array(n).fill(-1);
  const newOf = new Int32Array(oldNodes.length).fill(-1);
  for (let i = 0, j = 0; i < n; i++) {
    const id = nodes[i].id;
    const o = j < oldNodes.length && oldNodes[j].id === id ? j : index.get(id) ?? -1;
    if (o < 0) continue;
    oldOf[i] = o;
    newOf[o] = i;
    if (o >= j) j = o + 1;
  }
  for (let o = 0; o < oldNodes.length; o++) if (newOf[o] < 0) index.delete(oldNodes[o].id);
  for (let i = 0; i < n; i++) if (oldOf[i] !== i) index.set(nodes[i].id, i);
  return { oldOf, newOf };
}

/**
 * Each edge's ends as node places (`edgeA`, `edgeB`): an edge kept (the same object, a
 * few places further at most) takes its old ends through `newOf`, others are looked up
 * in `index`. Returns old edge -> new edge (-1: gone, or not found by place).
 */
export function matchEdges(
  oldEdges: readonly ViewEdge[], old: { edgeA: Int32Array; edgeB: Int32Array }, edges: readonly ViewEdge[],
  newOf: Int32Array, index: Map<string, number>, edgeA: Int32Array, edgeB: Int32Array,
): Int32Array {
  const edgeNewOf = new Int32Array(oldEdges.length).fill(-1);
  for (let e = 0, j = 0; e < edges.length; e++) {
    const edge = edges[e];
    let o = -1;
    for (let k = j; k < Math.min(j + 8, oldEdges.length); k++) if (oldEdges[k] === edge) { o = k; break; }
    const a = o >= 0 ? newOf[old.edgeA[o]] : -1;
    const b = o >= 0 ? newOf[old.edgeB[o]] : -1;
    if (o >= 0) { j = o + 1; edgeNewOf[o] = e; }
    edgeA[e] = a >= 0 ? a : index.get(edge.source)!;
    edgeB[e] = b >= 0 ? b : index.get(edge.target)!;
  }
  return edgeNewOf;
}

/**
 * The namespace node each node is in (-1: none). Nodes not `fresh` keep their old one
 * (`oldNsOf` through the places); `fresh` null looks every node up, as when a namespace
 * came or went (nodes that stayed may belong to it, or find another of the same name).
 */
export function namespacesOf(nodes: readonly ViewNode[], places: Places, oldNsOf: Int32Array, fresh: Uint8Array | null): Int32Array {
  const n = nodes.length;
  const nsOf = new Int32Array(n).fill(-1);
  let nsIndex: Map<string, number> | null = null;
  for (let i = 0; i < n; i++) {
    if (fresh && !fresh[i]) {
      const ns = oldNsOf[places.oldOf[i]];
      nsOf[i] = ns >= 0 ? places.newOf[ns] : -1;
      continue;
    }
    const e = nodes[i].entity;
    if (e.kind === "namespace" || !e.namespace) continue;
    if (!nsIndex) {
      const namespaces: [string, string, number][] = [];
      for (let k = 0; k < n; k++) if (nodes[k].entity.kind === "namespace") namespaces.push([nodes[k].entity.id, nodes[k].entity.name, k]);
      nsIndex = indexNamespaces(namespaces);
    }
    nsOf[i] = nsIndex.get(namespaceKey(e.id, e.namespace, e.attrs?.cluster)) ?? -1;
  }
  return nsOf;
}

/** Namespace node -> its members, from each node's namespace. */
export function membersOf(nsOf: Int32Array): Map<number, number[]> {
  const members: number[][] = [];
  for (let i = 0; i < nsOf.length; i++) {
    const ns = nsOf[i];
    if (ns >= 0) (members[ns] ??= []).push(i);
  }
  const out = new Map<number, number[]>();
  members.forEach((list, ns) => { out.set(ns, list); });
  return out;
}
