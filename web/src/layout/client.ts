// The main thread's side of the layout worker: sends what changed in the view, keeps the
// latest positions and an id -> index map for the scene to read every frame.
import { indexNamespaces, layoutGroups, namespaceKey, siteKey } from "../state/groups";
import type { View } from "../state/view";
import type { LayoutPreset } from "../state/url";
import type { LayoutLinkSpec, LayoutNodeSpec } from "./engine";
import type { LayoutRequest, LayoutResponse } from "./worker";

interface SentNode {
  group: string;
  kind: string;
  site: string;
  generation: number;
}

export class LayoutClient {
  ids: string[] = [];
  positions: Float32Array = new Float32Array(0);
  index = new Map<string, number>();
  /** Bumped on every message: the scene re-reads positions when it changes. */
  revision = 0;
  alpha = 1;
  private readonly worker: Worker;
  // What the worker holds, each with the sync that last saw it (the generation): a sync
  // sends only the difference, without building the whole view's specs again (it runs
  // on every rebuild, 3 times a second under churn at 10,000 entities).
  private readonly sentNodes = new Map<string, SentNode>();
  private readonly sentLinks = new Map<string, number>();
  /** Node id -> the namespace node it is tied to ("member:" links). */
  private readonly sentMembers = new Map<string, string>();
  private generation = 0;

  constructor() {
    this.worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    this.worker.onmessage = (ev: MessageEvent<LayoutResponse>) => {
      const { ids, positions, alpha } = ev.data;
      if (ids) {
        this.ids = ids;
        this.index = new Map(ids.map((id, i) => [id, i]));
      }
      this.positions = positions;
      this.alpha = alpha;
      this.revision += 1;
    };
  }

  private send(request: LayoutRequest): void {
    this.worker.postMessage(request);
  }

  sync(view: View): void {
    const generation = ++this.generation;
    const addNodes: LayoutNodeSpec[] = [];
    const removeNodes: string[] = [];
    const addLinks: LayoutLinkSpec[] = [];
    const removeLinks: string[] = [];
    // Members are tied to their namespace so that namespaces form clusters its ring can hold.
    // (Keyed by cluster too: two clusters' "default" namespaces are two rings.)
    const namespaces = indexNamespaces(view.nodes.flatMap((node): [string, string, string][] =>
      node.entity.kind === "namespace" ? [[node.entity.id, node.entity.name, node.id]] : []));

    const layoutGroup = layoutGroups(view.nodes.map((node) => node.entity));
    for (const node of view.nodes) {
      const { entity } = node;
      const group = layoutGroup(entity);
      const site = siteKey(entity);
      const sent = this.sentNodes.get(node.id);
      if (sent && sent.group === group && sent.kind === entity.kind && sent.site === site) sent.generation = generation;
      else {
        this.sentNodes.set(node.id, { group, kind: entity.kind, site, generation });
        addNodes.push({ id: node.id, near: node.near, group, kind: entity.kind, site });
      }
      const ns = entity.kind !== "namespace" && entity.namespace
        ? namespaces.get(namespaceKey(entity.id, entity.namespace, entity.attrs?.cluster)) : undefined;
      const tied = this.sentMembers.get(node.id);
      if (tied === ns) continue;
      const id = `member:${node.id}`;
      if (tied !== undefined) removeLinks.push(id);
      if (ns === undefined) this.sentMembers.delete(node.id);
      else {
        this.sentMembers.set(node.id, ns);
        addLinks.push({ id, source: ns, target: node.id });
      }
    }
    for (const [id, sent] of this.sentNodes) {
      if (sent.generation === generation) continue;
      this.sentNodes.delete(id);
      removeNodes.push(id);
      if (this.sentMembers.delete(id)) removeLinks.push(`member:${id}`);
    }

    for (const edge of view.edges) {
      if (!this.sentLinks.has(edge.id)) addLinks.push({ id: edge.id, source: edge.source, target: edge.target });
      this.sentLinks.set(edge.id, generation);
    }
    for (const [id, seen] of this.sentLinks) {
      if (seen === generation) continue;
      this.sentLinks.delete(id);
      removeLinks.push(id);
    }

    if (addNodes.length || removeNodes.length || addLinks.length || removeLinks.length) {
      this.send({ type: "sync", change: { addNodes, removeNodes, addLinks, removeLinks } });
    }
  }

  setPreset(preset: LayoutPreset): void {
    this.send({ type: "preset", preset });
  }

  /** Writes the position of `id` into `out`; false when the worker has not placed it yet. */
  read(id: string, out: { x: number; y: number; z: number }): boolean {
    const i = this.index.get(id);
    if (i === undefined || i * 3 + 2 >= this.positions.length) return false;
    out.x = this.positions[i * 3];
    out.y = this.positions[i * 3 + 1];
    out.z = this.positions[i * 3 + 2];
    return true;
  }
}
