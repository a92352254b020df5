// The force layout (d3-force-3d), warm-started: nodes that stay keep their place, a new
// node appears next to its owner (or a neighbour), and big changes reheat the simulation
// only gently, so the map does not jump. A small change (a pod replaced among thousands) is
// settled locally: the newcomers alone move, among their neighbours, so that churn costs
// ticks of a few nodes rather than of the whole map (a whole tick takes 2 ms at 10,000
// nodes, 45 with the push, and under steady churn the whole map was ticked without end).
// The push is our own (manyBody.ts), d3's forces on typed arrays. Runs inside the
// layout worker; plain class so that unit tests drive it directly.
import {
  forceLink, forceSimulation, forceX, forceY, forceZ,
  type Force, type LinkForce, type PositionForce, type SimLink, type SimNode, type Simulation,
} from "d3-force-3d";
import { manyBody } from "./manyBody";
import type { LayoutPreset } from "../state/url";

export interface LayoutNodeSpec {
  id: string;
  /** Place a new node next to this one when it exists (its owner). */
  near?: string;
  group: string; // state/groups.ts layoutGroup: a namespace, or the system of what has none
  kind: string;
  /** state/groups.ts siteKey: the site it comes from ("By site"). */
  site?: string;
}

export interface LayoutLinkSpec { id: string; source: string; target: string }

export interface LayoutSync {
  addNodes: LayoutNodeSpec[];
  removeNodes: string[];
  addLinks: LayoutLinkSpec[];
  removeLinks: string[];
}

interface Node extends SimNode, LayoutNodeSpec {}

/** On big maps the many-body push (Barnes-Hut in 3D: about 40 ms a tick at 10,000 nodes,
 * nearly all of a tick; d3's own took 130) is applied every second tick beyond 3,000 nodes
 * and every third beyond 6,000, as much stronger: the velocity decay spreads each push over the next ticks.
 * At 10,000 nodes the map settles in a third of the time (22 s against 65 s of CPU on a busy
 * machine), as wide and with links as long (mean radius 335 against 328, tree links 159
 * against 161). */
export const chargeEvery = (nodes: number) => Math.min(3, Math.ceil(nodes / 3000));

/** How fast the whole map's simulation cools: beyond 3,000 nodes, in two thirds of the
 * ticks (116 against 174). At 10,000 nodes the map came to rest on 14 s of CPU against
 * 19-25 s (with d3's push, before simNode; 1.6 s since), as wide (median radius 352
 * against 360), with its owner-to-pod links as long (164 against 180) and as few nodes
 * crowding a neighbour (0.2 % within 5 units against 0 %, nearest neighbour median 16.3
 * against 16.8). That CPU is the page's too where rendering is in software. */
export const alphaDecay = (nodes: number) => (nodes > 3000 ? 0.045 : 0.03);

export function sparse<N extends SimNode>(force: Force<N>, every: () => number): Force<N> {
  let tick = 0;
  const wrapped: Force<N> = (alpha: number) => {
    const n = every();
    if (tick++ % n === 0) force(alpha * n);
  };
  wrapped.initialize = (nodes, ...rest) => force.initialize?.(nodes, ...rest);
  return wrapped;
}

/**
 * A node of the simulation, every one of the same shape: the same fields, in the same order,
 * velocities doubles from the start. Spread from specs of several shapes (with a `near` or
 * without, d3 adding `index` and velocities later), the forces' loops met several hidden
 * classes and ran 5-10 times slower: at 10,000 nodes the links took 10 ms a tick against
 * 1.2, the pull to the centre 9 ms against 0.7.
 */
function simNode(spec: LayoutNodeSpec, at: { x: number; y: number; z: number }): Node {
  const node: Node = {
    id: spec.id, near: spec.near, group: spec.group, kind: spec.kind, site: spec.site,
    index: 0, x: at.x, y: at.y, z: at.z, vx: 0.5, vy: 0.5, vz: 0.5,
  };
  node.vx = node.vy = node.vz = 0;
  return node;
}

const idOf = (end: string | Node) => (typeof end === "string" ? end : end.id);

/** Above this many (moving x all) pairs a local settle's push is d3's (an octree). */
const EXACT_PAIRS = 40_000;

/**
 * The many-body push (d3's, with no approximation) on the `moving` nodes only. In a local
 * settle every other node is held where it is, and d3's force, which builds an octree of
 * all of them each tick and pushes each, was nearly all of a sync's cost (a pod replaced
 * among 10,000 nodes: 15-25 ms of the worker's, twenty times a second under churn) for
 * forces thrown away.
 */
export function pushOn<N extends SimNode>(moving: ReadonlySet<string>, strength: number): Force<N> {
  let nodes: N[] = [];
  let pushed: N[] = [];
  const force: Force<N> = (alpha: number) => {
    for (const node of pushed) {
      let vx = 0, vy = 0, vz = 0;
      for (const other of nodes) {
        if (other === node) continue;
        let x = other.x! - node.x!, y = other.y! - node.y!, z = other.z! - node.z!;
        let l = x * x + y * y + z * z;
        // Coincident: a fixed tiny nudge (d3 draws a random one).
        if (l === 0) { x = y = z = 1e-6; l = 3e-12; }
        if (l < 1) l = Math.sqrt(l); // as d3's distanceMin of 1
        const w = (strength * alpha) / l;
        vx += x * w; vy += y * w; vz += z * w;
      }
      node.vx! += vx; node.vy! += vy; node.vz! += vz;
    }
  };
  force.initialize = (all: N[]) => {
    nodes = all;
    pushed = all.filter((n) => moving.has(n.id));
  };
  return force;
}

const REHEAT = 0.25;
/** Below this alpha the simulation has cooled and stops ticking. */
const ALPHA_MIN = 0.005;
/** A change to at most this share of the map is settled locally... */
const LOCAL_SHARE = 0.01;
/** ...and so is one of at most this many nodes come and gone, up to a bigger share: on a
 * map of 100 or 1,000 nodes, a pod replaced or two (5-10 changes with their links) were
 * over 1 %, and churn of 20 a second kept the whole map reheated, its worker busy a quarter
 * of a core and every frame's positions rewritten. */
const LOCAL_NODES = 6;
const LOCAL_SHARE_FEW = 0.25;
/** Newcomers settled locally, as a share of the map, after which the whole map relaxes...
 * Without, a map under churn lost its shape as its pods were replaced: at 10,000 nodes,
 * each pod replaced once, the median distance from the centre fell from 352 to 244 and
 * owner-to-pod links grew from 164 to 189 (with: 335 and 176); on a 400-node tree, its
 * links doubled. Relaxing costs a 10,000-node map 0.7 s of the worker's CPU a time, once
 * in about two minutes at 20 changes a second. */
const RELAX_SHARE = 0.1;
/** ...from this alpha (gentle: a reheat for a big change starts at 0.015 + twice its share). */
const RELAX = 0.04;
/** Ticks of a local settle (from alpha 0.3: most of the way to rest). */
const LOCAL_TICKS = 80;
/** Neighbours' neighbours a local settle pushes against, at most per neighbour. */
const LOCAL_NEIGHBOURS = 24;
const LAYERS = [
  "repository", "package", "module", "ingress", "service", "deployment", "statefulset", "daemonset", "job", "replicaset", "pod", "container",
  "configmap", "secret", "volume", "database", "nats_server", "nats_stream", "nats_subject", "nats_consumer",
  "process", "network", "node", "namespace",
];
const SPREAD = 12;
/** Room per node where a batch of newcomers starts: 10,000 nodes (12,000 links besides
 * their owners') start at a median 380 units from the centre, and settle at 475. From a
 * pile they flew out to 4,300 in one tick, and had come back to 1,000 when they came to rest. */
const SEED_SPACING = 28;
const CODE: ReadonlySet<string> = new Set(["repository", "package", "module"]);

export class LayoutEngine {
  readonly nodes = new Map<string, Node>();
  private readonly links = new Map<string, LayoutLinkSpec>();
  /** Node id -> the links at it (either end): a local settle reads the links of a few
   * nodes, not all 20,000 of a big map (that took two thirds of each sync's 10 ms). */
  private readonly linksAt = new Map<string, Set<LayoutLinkSpec>>();
  private readonly simulation: Simulation<Node>;
  private readonly linkForce: LinkForce<Node>;
  private preset: LayoutPreset = "force";
  private random: () => number;
  /** Bumped when the node order (and so the positions buffer's meaning) changes. */
  orderVersion = 0;
  /** How the last sync changed the order (nodes that left it; nodes appended): the worker
   * posts that instead of comparing 10,000 ids with those it sent before. */
  lastOrderChange: { removed: string[]; added: string[] } = { removed: [], added: [] };
  private order: Node[] = [];
  /** The simulation's nodes, links and forces are not yet those of `order`: they are bound
   * again only when the whole map ticks (at 10,000 nodes binding costs tens of ms, and
   * under churn with the map at rest nothing else needs it). */
  private unbound = true;
  /** Code nodes (repositories, packages, modules) in the map, counted as they come and go:
   * each local settle asks whether code and what runs it are both there (scanning 50,000
   * nodes for that took 17 ms a sync). */
  private codeNodes = 0;
  /** Newcomers settled locally since the whole map last moved. */
  private settledLocally = 0;

  constructor(seed = 1) {
    let s = seed;
    this.random = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    this.linkForce = forceLink<Node>([]).id((n) => n.id).distance(14).strength(0.5);
    this.simulation = forceSimulation<Node>([], 3)
      .alphaDecay(0.03)
      .velocityDecay(0.45)
      .force("link", this.linkForce)
      .force("charge", sparse(manyBody<Node>(-30, 1.2, 400), () => chargeEvery(this.nodes.size)))
      .stop();
    this.setPreset("force");
  }

  get alpha(): number {
    return this.simulation.alpha();
  }

  sync(change: LayoutSync): void {
    const first = this.nodes.size === 0;
    const removed = change.removeNodes.filter((id) => {
      const node = this.nodes.get(id);
      if (node && CODE.has(node.kind)) this.codeNodes -= 1;
      return this.nodes.delete(id);
    });
    const added: Node[] = [];
    const newcomers = change.addNodes.filter((spec) => !this.nodes.has(spec.id));
    const many = newcomers.length > 1 &&
      (first || newcomers.length > LOCAL_SHARE * (this.nodes.size + newcomers.length));
    const seeds = many ? this.seedMany(newcomers) : null;
    for (const spec of change.addNodes) {
      const existing = this.nodes.get(spec.id);
      if (existing) {
        this.codeNodes += Number(CODE.has(spec.kind)) - Number(CODE.has(existing.kind));
        // (Field by field: the node keeps its shape.)
        existing.near = spec.near; existing.group = spec.group; existing.kind = spec.kind; existing.site = spec.site;
        continue;
      }
      const node = simNode(spec, seeds?.get(spec.id) ?? this.placeNear(spec));
      if (CODE.has(spec.kind)) this.codeNodes += 1;
      this.nodes.set(spec.id, node);
      added.push(node);
    }
    for (const id of change.removeLinks) this.removeLink(id);
    for (const link of change.addLinks) {
      this.removeLink(link.id);
      this.links.set(link.id, link);
      for (const end of [link.source, link.target]) {
        let at = this.linksAt.get(end);
        if (!at) this.linksAt.set(end, (at = new Set()));
        at.add(link);
      }
    }
    this.order = [...this.nodes.values()];
    this.orderVersion += 1;
    this.lastOrderChange = { removed, added: added.map((n) => n.id) };
    this.unbound = true;
    const changed = change.addNodes.length + change.removeNodes.length + change.addLinks.length + change.removeLinks.length;
    // Reheat by how much changed: a pod replaced among 10,000 nudges its neighbourhood only
    // (it was placed next to its owner already); a big change re-flows the map.
    if (first) this.simulation.alpha(1);
    else if (changed) {
      const share = changed / Math.max(1, this.nodes.size);
      // (Small changes never reheat the whole map: under steady churn, reheats every few
      // hundred ms kept a 10,000-node map ticking without end.)
      const few = added.length + removed.length <= LOCAL_NODES && share <= LOCAL_SHARE_FEW;
      if (share <= LOCAL_SHARE || few) {
        this.settleLocally(added);
        // Placed among held neighbours, newcomers sit a little apart from where the whole
        // map would put them; once a tenth of the map has been placed so, the whole map
        // relaxes, gently (under churn, pods are all replaced in time).
        this.settledLocally += added.length;
        if (this.settledLocally > RELAX_SHARE * this.nodes.size) {
          this.settledLocally = 0;
          this.simulation.alpha(Math.max(this.simulation.alpha(), RELAX));
        }
      } else {
        this.settledLocally = 0;
        this.simulation.alpha(Math.max(this.simulation.alpha(), Math.min(REHEAT, 0.015 + share * 2)));
      }
    }
  }

  private removeLink(id: string): void {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    for (const end of [link.source, link.target]) {
      const at = this.linksAt.get(end);
      at?.delete(link);
      if (at?.size === 0) this.linksAt.delete(end);
    }
  }

  /**
   * Moves the `added` nodes to their place among their neighbours, who stay where they are
   * (as every other node). The local simulation runs on copies: d3 numbers the nodes it is
   * given, and the whole map's forces read those numbers.
   */
  private settleLocally(added: Node[]): void {
    if (added.length === 0) return;
    const moving = new Set(added.map((n) => n.id));
    const copies = new Map<string, Node>();
    const copy = (n: Node) => {
      let c = copies.get(n.id);
      if (!c) {
        c = { id: n.id, group: n.group, kind: n.kind, site: n.site, x: n.x, y: n.y, z: n.z };
        if (!moving.has(n.id)) { c.fx = n.x; c.fy = n.y; c.fz = n.z; }
        copies.set(n.id, c);
      }
      return c;
    };
    for (const n of added) copy(n);
    // The newcomers' links pull; their neighbours and their neighbours' neighbours (a new
    // pod's siblings) push, held where they are, so that it takes a place like theirs.
    const local: SimLink<Node>[] = [];
    const ring = new Set<string>();
    const inner = new Set<LayoutLinkSpec>();
    for (const id of moving) for (const link of this.linksAt.get(id) ?? []) inner.add(link);
    for (const link of inner) {
      const source = this.nodes.get(link.source), target = this.nodes.get(link.target);
      if (!source || !target) continue;
      local.push({ source: copy(source).id, target: copy(target).id });
      ring.add(source.id).add(target.id);
    }
    // A newcomer's link is as long as its neighbour's other links are now: the whole map's
    // push, which the few nodes here cannot reproduce, has stretched those.
    // A hub (a machine with a thousand pods) lends a few of its neighbours only.
    const lengths = new Map<string, { sum: number; n: number }>();
    const outer = new Set<LayoutLinkSpec>();
    for (const id of ring) for (const link of this.linksAt.get(id) ?? []) outer.add(link);
    for (const link of outer) {
      if (ring.has(link.source) === ring.has(link.target)) continue;
      const inner = this.nodes.get(ring.has(link.source) ? link.source : link.target);
      const other = this.nodes.get(ring.has(link.source) ? link.target : link.source);
      if (!inner || !other) continue;
      const seen = lengths.get(inner.id) ?? { sum: 0, n: 0 };
      if (seen.n < LOCAL_NEIGHBOURS) copy(other);
      seen.sum += Math.sqrt((inner.x! - other.x!) ** 2 + (inner.y! - other.y!) ** 2 + (inner.z! - other.z!) ** 2);
      seen.n += 1;
      lengths.set(inner.id, seen);
    }
    const length = (l: SimLink<Node>) => {
      const fixed = lengths.get(String(moving.has(idOf(l.source)) ? idOf(l.target) : idOf(l.source)));
      return fixed ? fixed.sum / fixed.n : 14;
    };
    const forces = this.positionForces();
    const simulation = forceSimulation<Node>([...copies.values()], 3)
      .velocityDecay(0.45)
      .force("link", forceLink<Node>(local).id((n) => n.id).distance(length).strength(forces.link))
      .force("charge", moving.size * copies.size <= EXACT_PAIRS ? pushOn<Node>(moving, -30) : manyBody<Node>(-30, 0.9))
      .force("x", forces.x).force("y", forces.y).force("z", forces.z)
      .alpha(0.3)
      .stop();
    simulation.tick(LOCAL_TICKS);
    for (const id of moving) {
      const node = this.nodes.get(id)!, placed = copies.get(id)!;
      node.x = placed.x; node.y = placed.y; node.z = placed.z;
      node.vx = node.vy = node.vz = 0;
    }
  }

  private placeNear(spec: LayoutNodeSpec): { x: number; y: number; z: number } {
    const jitter = () => (this.random() - 0.5) * SPREAD;
    const anchor = (spec.near && this.nodes.get(spec.near)) || this.groupCentre(spec.group);
    if (anchor) return { x: anchor.x! + jitter(), y: anchor.y! + jitter(), z: anchor.z! + jitter() };
    const r = 50 * Math.cbrt(Math.max(1, this.nodes.size) / 100);
    return { x: (this.random() - 0.5) * r, y: (this.random() - 0.5) * r, z: (this.random() - 0.5) * r };
  }

  /**
   * Where a batch of newcomers (a first view, a big change) starts: through a volume about
   * the size the settled map takes, each group in a ball of its own (sized by its members)
   * around a centre of its own, and each newcomer with an owner next to it. Placed one by
   * one next to a few anchors instead, 10,000 entities started in a pile a few units
   * across: the page framed them from 60 units away, and its first frame drew each glyph
   * 85 px wide, 9,000 overlapping (3 s of software rendering, twice, with the page's main
   * thread waiting).
   */
  private seedMany(specs: LayoutNodeSpec[]): Map<string, { x: number; y: number; z: number }> {
    const sizes = new Map<string, number>();
    for (const spec of specs) sizes.set(spec.group, (sizes.get(spec.group) ?? 0) + 1);
    const around = SEED_SPACING * Math.cbrt(this.nodes.size + specs.length) * 0.6;
    const centres = new Map<string, { x: number; y: number; z: number }>();
    const fresh = [...sizes.keys()].filter((group) => {
      const centre = this.groupCentre(group);
      if (centre) centres.set(group, { x: centre.x, y: centre.y, z: centre.z });
      return !centre;
    });
    // New groups' centres spread evenly over a sphere (a Fibonacci lattice).
    fresh.forEach((group, k) => {
      const r = fresh.length > 1 || centres.size ? around : 0;
      const polar = Math.acos(1 - (2 * (k + 0.5)) / fresh.length);
      const turn = Math.PI * (1 + Math.sqrt(5)) * k;
      centres.set(group, { x: r * Math.sin(polar) * Math.cos(turn), y: r * Math.cos(polar), z: r * Math.sin(polar) * Math.sin(turn) });
    });
    const placed = new Map<string, { x: number; y: number; z: number }>();
    const jitter = () => (this.random() - 0.5) * SPREAD;
    for (const spec of specs) {
      const anchor = spec.near ? this.nodes.get(spec.near) ?? placed.get(spec.near) : undefined;
      if (anchor && anchor.x != null) {
        placed.set(spec.id, { x: anchor.x + jitter(), y: anchor.y! + jitter(), z: anchor.z! + jitter() });
        continue;
      }
      const centre = centres.get(spec.group)!;
      const r = SEED_SPACING * Math.cbrt(sizes.get(spec.group)!);
      let x, y, z; // uniform in the unit ball
      do { x = this.random() * 2 - 1; y = this.random() * 2 - 1; z = this.random() * 2 - 1; } while (x * x + y * y + z * z > 1);
      placed.set(spec.id, { x: centre.x + x * r, y: centre.y + y * r, z: centre.z + z * r });
    }
    return placed;
  }

  private groupCentre(group: string): { x: number; y: number; z: number } | null {
    for (const node of this.nodes.values()) if (node.group === group && node.x != null) return node as Required<Node>;
    return null;
  }

  /** Presets: free force; clusters by namespace or by site; layers by kind. */
  setPreset(preset: LayoutPreset): void {
    const reheat = preset !== this.preset;
    this.preset = preset;
    this.unbound = true;
    if (reheat) this.simulation.alpha(Math.max(this.simulation.alpha(), 0.6));
  }

  /** Gives the simulation the current nodes, links and preset's forces. */
  private bind(): void {
    this.unbound = false;
    this.simulation.alphaDecay(alphaDecay(this.order.length));
    this.simulation.nodes(this.order);
    this.linkForce.links(
      [...this.links.values()]
        .filter((l) => this.nodes.has(l.source) && this.nodes.has(l.target))
        .map((l) => ({ source: l.source, target: l.target }) as SimLink<Node>),
    );
    const forces = this.positionForces();
    this.simulation.force("x", forces.x).force("y", forces.y).force("z", forces.z);
    this.linkForce.strength(forces.link);
  }

  /** The preset's forces towards places (new ones each call: d3 binds a force to its nodes),
   * and its links' strength. */
  private positionForces(): { x: PositionForce<Node>; y: PositionForce<Node>; z: PositionForce<Node>; link: number } {
    const preset = this.preset;
    const keys = new Map<string, number>();
    const key = (n: Node) => (preset === "namespace" ? n.group : preset === "site" ? n.site ?? "local" : n.kind);
    if (preset === "kind") {
      // Layers top to bottom as traffic and ownership go: entry points, workloads, what
      // they mount, then the machines and systems under them.
      const present = new Set(this.order.map(key));
      for (const kind of LAYERS) if (present.has(kind)) keys.set(kind, keys.size);
    }
    // (The free layout needs no keys: a local settle, under churn, skips reading 10,000.)
    if (preset !== "force") for (const node of this.order) if (!keys.has(key(node))) keys.set(key(node), keys.size);
    const count = Math.max(1, keys.size);
    const radius = 40 + 12 * Math.sqrt(this.order.length);
    // Code and what runs it together (Both): the code on its own layer above.
    const lift = this.codeNodes > 0 && this.codeNodes < this.order.length ? radius * 0.9 : 0;
    const layerY = (base: number) => forceY<Node>((n) => (CODE.has(n.kind) ? lift : 0)).strength((n) => (lift && CODE.has(n.kind) ? 0.3 : base));
    const link = preset === "kind" ? 0.08 : 0.5;
    if (preset === "force") {
      return { x: forceX<Node>(0).strength(0.02), y: layerY(0.02), z: forceZ<Node>(0).strength(0.02), link };
    }
    if (preset === "namespace" || preset === "site") {
      // Namespaces (or sites, further apart) around a circle; members pulled to its centre.
      const angle = (n: Node) => (2 * Math.PI * (keys.get(key(n)) ?? 0)) / count;
      const r = preset === "site" ? radius * 1.6 : radius;
      return {
        x: forceX<Node>((n) => Math.cos(angle(n)) * r).strength(0.12),
        y: layerY(0.05),
        z: forceZ<Node>((n) => Math.sin(angle(n)) * r).strength(0.12),
        link,
      };
    }
    // Kinds as horizontal layers, seen from the side: wide, shallow in depth, and held
    // to their layer more than to their links (which cross layers).
    const step = 70;
    return {
      x: forceX<Node>(0).strength(0.006),
      y: forceY<Node>((n) => ((count - 1) / 2 - (keys.get(key(n)) ?? 0)) * step).strength(0.6),
      z: forceZ<Node>(0).strength(0.12),
      link,
    };
  }

  /** Advance; returns whether anything moved (false once the layout has cooled). */
  tick(iterations = 1): boolean {
    if (this.simulation.alpha() < ALPHA_MIN) return false;
    if (this.unbound) this.bind();
    this.simulation.tick(iterations);
    return true;
  }

  ids(): string[] {
    return this.order.map((n) => n.id);
  }

  positions(): Float32Array {
    const order = this.order;
    const out = new Float32Array(order.length * 3);
    for (let i = 0; i < order.length; i++) {
      const n = order[i];
      out[i * 3] = n.x ?? 0;
      out[i * 3 + 1] = n.y ?? 0;
      out[i * 3 + 2] = n.z ?? 0;
    }
    return out;
  }

  position(id: string): [number, number, number] | null {
    const n = this.nodes.get(id);
    return n ? [n.x ?? 0, n.y ?? 0, n.z ?? 0] : null;
  }
}
