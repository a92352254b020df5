// The main thread's side of the layout worker: sends what changed in the view, keeps the
// latest positions and an id -> index map for the scene to read every frame.
import { indexNamespaces, layoutGroup, namespaceKey, siteKey } from "../state/groups";
import type { View } from "../state/view";
import type { LayoutPreset } from "../state/url";
import type { LayoutLinkSpec, LayoutNodeSpec } from "./engine";
import type { LayoutRequest, LayoutResponse } from "./worker";

export class LayoutClient {
  ids: string[] = [];
  positions: Float32Array = new Float32Array(0);
  index = new Map<string, number>();
  /** Bumped on every message: the scene re-reads positions when it changes. */
  revision = 0;
  alpha = 1;
  private readonly worker: Worker;
  private readonly sentNodes = new Map<string, string>();
  private readonly sentLinks = new Set<string>();

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
    const addNodes: LayoutNodeSpec[] = [];
    const keep = new Set<string>();
    for (const node of view.nodes) {
      keep.add(node.id);
      const spec = { id: node.id, near: node.near, group: layoutGroup(node.entity), kind: node.entity.kind,
        site: siteKey(node.entity) };
      const signature = `${spec.group}|${spec.kind}|${spec.site}`;
      if (this.sentNodes.get(node.id) === signature) continue;
      this.sentNodes.set(node.id, signature);
      addNodes.push(spec);
    }
    const removeNodes: string[] = [];
    for (const id of this.sentNodes.keys()) if (!keep.has(id)) removeNodes.push(id);
    for (const id of removeNodes) this.sentNodes.delete(id);

    const addLinks: LayoutLinkSpec[] = [];
    const keepLinks = new Set<string>();
    // Members are tied to their namespace so that namespaces form clusters its ring can hold.
    const namespaces = indexNamespaces(view.nodes.flatMap((node): [string, string, string][] =>
      node.entity.kind === "namespace" ? [[node.entity.id, node.entity.name, node.id]] : []));
    const links = view.edges.map((e) => ({ id: e.id, source: e.source, target: e.target }));
    for (const node of view.nodes) {
      const e = node.entity;
      const ns = e.kind !== "namespace" && e.namespace ? namespaces.get(namespaceKey(e.id, e.namespace)) : undefined;
      if (ns) links.push({ id: `member:${node.id}`, source: ns, target: node.id });
    }
    for (const edge of links) {
      keepLinks.add(edge.id);
      if (this.sentLinks.has(edge.id)) continue;
      this.sentLinks.add(edge.id);
      addLinks.push({ id: edge.id, source: edge.source, target: edge.target });
    }
    const removeLinks: string[] = [];
    for (const id of this.sentLinks) if (!keepLinks.has(id)) removeLinks.push(id);
    for (const id of removeLinks) this.sentLinks.delete(id);

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
