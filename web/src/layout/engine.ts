// The force layout (d3-force-3d), warm-started: nodes that stay keep their place, a new
// node appears next to its owner (or a neighbour), and changes reheat the simulation only
// gently, so the map does not jump when a pod comes or goes. Runs inside the layout worker;
// plain class so that unit tests drive it directly.
import {
  forceLink, forceManyBody, forceSimulation, forceX, forceY, forceZ,
  type LinkForce, type SimLink, type SimNode, type Simulation,
} from "d3-force-3d";
import type { LayoutPreset } from "../state/url";

export interface LayoutNodeSpec {
  id: string;
  /** Place a new node next to this one when it exists (its owner). */
  near?: string;
  group: string; // state/groups.ts layoutGroup: a namespace, or the system of what has none
  kind: string;
}

export interface LayoutLinkSpec { id: string; source: string; target: string }

export interface LayoutSync {
  addNodes: LayoutNodeSpec[];
  removeNodes: string[];
  addLinks: LayoutLinkSpec[];
  removeLinks: string[];
}

interface Node extends SimNode, LayoutNodeSpec {}

const REHEAT = 0.25;
const LAYERS = [
  "repository", "package", "module", "ingress", "service", "deployment", "statefulset", "daemonset", "job", "replicaset", "pod", "container",
  "configmap", "secret", "volume", "database", "nats_server", "nats_stream", "nats_subject", "nats_consumer",
  "process", "network", "node", "namespace",
];
const SPREAD = 12;
const CODE: ReadonlySet<string> = new Set(["repository", "package", "module"]);

export class LayoutEngine {
  readonly nodes = new Map<string, Node>();
  private readonly links = new Map<string, LayoutLinkSpec>();
  private readonly simulation: Simulation<Node>;
  private readonly linkForce: LinkForce<Node>;
  private preset: LayoutPreset = "force";
  private random: () => number;
  /** Bumped when the node order (and so the positions buffer's meaning) changes. */
  orderVersion = 0;
  private order: Node[] = [];

  constructor(seed = 1) {
    let s = seed;
    this.random = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    this.linkForce = forceLink<Node>([]).id((n) => n.id).distance(14).strength(0.5);
    this.simulation = forceSimulation<Node>([], 3)
      .alphaDecay(0.03)
      .velocityDecay(0.45)
      .force("link", this.linkForce)
      .force("charge", forceManyBody<Node>().strength(-30).theta(1.2).distanceMax(400))
      .stop();
    this.setPreset("force");
  }

  get alpha(): number {
    return this.simulation.alpha();
  }

  sync(change: LayoutSync): void {
    const first = this.nodes.size === 0;
    for (const id of change.removeNodes) this.nodes.delete(id);
    for (const spec of change.addNodes) {
      const existing = this.nodes.get(spec.id);
      if (existing) { Object.assign(existing, spec); continue; }
      this.nodes.set(spec.id, { ...spec, ...this.placeNear(spec) });
    }
    for (const id of change.removeLinks) this.links.delete(id);
    for (const link of change.addLinks) this.links.set(link.id, link);
    this.order = [...this.nodes.values()];
    this.orderVersion += 1;
    this.simulation.nodes(this.order);
    this.linkForce.links(
      [...this.links.values()]
        .filter((l) => this.nodes.has(l.source) && this.nodes.has(l.target))
        .map((l) => ({ source: l.source, target: l.target }) as SimLink<Node>),
    );
    this.setPreset(this.preset);
    const changed = change.addNodes.length + change.removeNodes.length + change.addLinks.length + change.removeLinks.length;
    // Reheat by how much changed: a pod replaced among 10,000 nudges its neighbourhood only
    // (it was placed next to its owner already); a big change re-flows the map.
    if (first) this.simulation.alpha(1);
    else if (changed) {
      const share = changed / Math.max(1, this.nodes.size);
      this.simulation.alpha(Math.max(this.simulation.alpha(), Math.min(REHEAT, 0.015 + share * 2)));
    }
  }

  private placeNear(spec: LayoutNodeSpec): { x: number; y: number; z: number } {
    const jitter = () => (this.random() - 0.5) * SPREAD;
    const anchor = (spec.near && this.nodes.get(spec.near)) || this.groupCentre(spec.group);
    if (anchor) return { x: anchor.x! + jitter(), y: anchor.y! + jitter(), z: anchor.z! + jitter() };
    const r = 50 * Math.cbrt(Math.max(1, this.nodes.size) / 100);
    return { x: (this.random() - 0.5) * r, y: (this.random() - 0.5) * r, z: (this.random() - 0.5) * r };
  }

  private groupCentre(group: string): { x: number; y: number; z: number } | null {
    for (const node of this.nodes.values()) if (node.group === group && node.x != null) return node as Required<Node>;
    return null;
  }

  /** Presets: free force; clusters by namespace; layers by kind. */
  setPreset(preset: LayoutPreset): void {
    const reheat = preset !== this.preset;
    this.preset = preset;
    const keys = new Map<string, number>();
    const key = (n: Node) => (preset === "namespace" ? n.group : n.kind);
    if (preset === "kind") {
      // Layers top to bottom as traffic and ownership go: entry points, workloads, what
      // they mount, then the machines and systems under them.
      const present = new Set(this.order.map(key));
      for (const kind of LAYERS) if (present.has(kind)) keys.set(kind, keys.size);
    }
    for (const node of this.order) if (!keys.has(key(node))) keys.set(key(node), keys.size);
    const count = Math.max(1, keys.size);
    const radius = 40 + 12 * Math.sqrt(this.order.length);
    // Code and what runs it together (Both): the code on its own layer above.
    const lift = this.order.some((n) => CODE.has(n.kind)) && this.order.some((n) => !CODE.has(n.kind)) ? radius * 0.9 : 0;
    const layerY = (base: number) => forceY<Node>((n) => (CODE.has(n.kind) ? lift : 0)).strength((n) => (lift && CODE.has(n.kind) ? 0.3 : base));
    if (preset === "force") {
      this.simulation.force("x", forceX<Node>(0).strength(0.02));
      this.simulation.force("y", layerY(0.02));
      this.simulation.force("z", forceZ<Node>(0).strength(0.02));
    } else if (preset === "namespace") {
      // Namespaces around a circle; each one's members pulled to its centre.
      const angle = (n: Node) => (2 * Math.PI * (keys.get(key(n)) ?? 0)) / count;
      this.simulation.force("x", forceX<Node>((n) => Math.cos(angle(n)) * radius).strength(0.12));
      this.simulation.force("y", layerY(0.05));
      this.simulation.force("z", forceZ<Node>((n) => Math.sin(angle(n)) * radius).strength(0.12));
    } else {
      // Kinds as horizontal layers, seen from the side: wide, shallow in depth, and held
      // to their layer more than to their links (which cross layers).
      const step = 70;
      this.simulation.force("x", forceX<Node>(0).strength(0.006));
      this.simulation.force("y", forceY<Node>((n) => ((count - 1) / 2 - (keys.get(key(n)) ?? 0)) * step).strength(0.6));
      this.simulation.force("z", forceZ<Node>(0).strength(0.12));
    }
    this.linkForce.strength(preset === "kind" ? 0.08 : 0.5);
    if (reheat) this.simulation.alpha(Math.max(this.simulation.alpha(), 0.6));
  }

  /** Advance; returns whether anything moved (false once the layout has cooled). */
  tick(iterations = 1): boolean {
    if (this.simulation.alpha() < 0.005) return false;
    this.simulation.tick(iterations);
    return true;
  }

  ids(): string[] {
    return this.order.map((n) => n.id);
  }

  positions(): Float32Array {
    const out = new Float32Array(this.order.length * 3);
    this.order.forEach((n, i) => {
      out[i * 3] = n.x ?? 0;
      out[i * 3 + 1] = n.y ?? 0;
      out[i * 3 + 2] = n.z ?? 0;
    });
    return out;
  }

  position(id: string): [number, number, number] | null {
    const n = this.nodes.get(id);
    return n ? [n.x ?? 0, n.y ?? 0, n.z ?? 0] : null;
  }
}
