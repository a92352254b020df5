// What the layout worker holds, mirrored on the main thread, so that a sync sends only the
// difference: from the whole view (after a whole rebuild), or from the view's changes
// alone (state/viewUpdate.ts: at 10,000 entities under churn, going over every node and
// edge took more of a rebuild than the changes themselves).
import { indexNamespaces, layoutGroups, namespaceKey, siteKey } from "../state/groups";
import type { View, ViewNode } from "../state/view";
import type { ViewChanges } from "../state/viewUpdate";
import type { LayoutLinkSpec, LayoutNodeSpec, LayoutSync } from "./engine";

interface SentNode {
  group: string;
  kind: string;
  site: string;
  generation: number;
}

export class LayoutMirror {
  // Each with the sync that last saw it (the generation), to find what a view left out.
  private readonly sentNodes = new Map<string, SentNode>();
  private readonly sentLinks = new Map<string, number>();
  /** Node id -> the namespace node it is tied to ("member:" links). */
  private readonly sentMembers = new Map<string, string>();
  private generation = 0;
  // From the last whole sync: they change only when namespaces come, go or change.
  private namespaces = new Map<string, string>();
  private layoutGroup: (entity: ViewNode["entity"]) => string = () => "";

  /** What the worker must change to hold `view`; null when nothing. `changes`: what changed
   * since the last diff (null: look at everything). */
  diff(view: View, changes: ViewChanges | null = null): LayoutSync | null {
    const generation = ++this.generation;
    const change: LayoutSync = { addNodes: [], removeNodes: [], addLinks: [], removeLinks: [] };
    if (changes && !this.touchesNamespaces(changes)) {
      for (const [id, node] of changes.nodes) {
        if (node) this.syncNode(node, generation, change);
        else if (this.sentNodes.has(id)) this.dropNode(id, change);
      }
      for (const [id, edge] of changes.edges) {
        if (!edge) {
          if (this.sentLinks.delete(id)) change.removeLinks.push(id);
        } else {
          if (!this.sentLinks.has(id)) change.addLinks.push({ id, source: edge.source, target: edge.target });
          this.sentLinks.set(id, generation);
        }
      }
    } else {
      // Members are tied to their namespace so that namespaces form clusters its ring can
      // hold. (Keyed by cluster too: two clusters' "default" namespaces are two rings.)
      this.namespaces = indexNamespaces(view.nodes.flatMap((node): [string, string, string][] =>
        node.entity.kind === "namespace" ? [[node.entity.id, node.entity.name, node.id]] : []));
      this.layoutGroup = layoutGroups(view.nodes.map((node) => node.entity));
      for (const node of view.nodes) this.syncNode(node, generation, change);
      for (const [id, sent] of this.sentNodes) if (sent.generation !== generation) this.dropNode(id, change);
      for (const edge of view.edges) {
        if (!this.sentLinks.has(edge.id)) change.addLinks.push({ id: edge.id, source: edge.source, target: edge.target });
        this.sentLinks.set(edge.id, generation);
      }
      for (const [id, seen] of this.sentLinks) {
        if (seen === generation) continue;
        this.sentLinks.delete(id);
        change.removeLinks.push(id);
      }
    }
    const { addNodes, removeNodes, addLinks, removeLinks } = change;
    return addNodes.length || removeNodes.length || addLinks.length || removeLinks.length ? change : null;
  }

  /** Namespaces coming, going or changing regroup their members: a whole sync. */
  private touchesNamespaces(changes: ViewChanges): boolean {
    for (const [id, node] of changes.nodes) {
      if (node?.entity.kind === "namespace" || this.sentNodes.get(id)?.kind === "namespace") return true;
    }
    return false;
  }

  private syncNode(node: ViewNode, generation: number, change: LayoutSync): void {
    const { entity } = node;
    const group = this.layoutGroup(entity);
    const site = siteKey(entity);
    const sent = this.sentNodes.get(node.id);
    if (sent && sent.group === group && sent.kind === entity.kind && sent.site === site) sent.generation = generation;
    else {
      this.sentNodes.set(node.id, { group, kind: entity.kind, site, generation });
      const spec: LayoutNodeSpec = { id: node.id, near: node.near, group, kind: entity.kind, site };
      change.addNodes.push(spec);
    }
    const ns = entity.kind !== "namespace" && entity.namespace
      ? this.namespaces.get(namespaceKey(entity.id, entity.namespace, entity.attrs?.cluster)) : undefined;
    const tied = this.sentMembers.get(node.id);
    if (tied === ns) return;
    const id = `member:${node.id}`;
    if (tied !== undefined) change.removeLinks.push(id);
    if (ns === undefined) this.sentMembers.delete(node.id);
    else {
      this.sentMembers.set(node.id, ns);
      const link: LayoutLinkSpec = { id, source: ns, target: node.id };
      change.addLinks.push(link);
    }
  }

  private dropNode(id: string, change: LayoutSync): void {
    this.sentNodes.delete(id);
    change.removeNodes.push(id);
    if (this.sentMembers.delete(id)) change.removeLinks.push(`member:${id}`);
  }
}
