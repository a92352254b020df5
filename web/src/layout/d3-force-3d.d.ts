// The part of d3-force-3d used here (the package ships no types).
declare module "d3-force-3d" {
  export interface SimNode {
    id: string;
    x?: number; y?: number; z?: number;
    vx?: number; vy?: number; vz?: number;
    fx?: number | null; fy?: number | null; fz?: number | null;
    index?: number;
  }
  export interface SimLink<N extends SimNode = SimNode> { source: string | N; target: string | N }
  export interface Force<N extends SimNode = SimNode> {
    (alpha: number): void;
    initialize?(nodes: N[], ...rest: unknown[]): void;
  }
  export interface Simulation<N extends SimNode = SimNode> {
    nodes(): N[];
    nodes(nodes: N[]): Simulation<N>;
    alpha(): number;
    alpha(a: number): Simulation<N>;
    alphaMin(a: number): Simulation<N>;
    alphaDecay(a: number): Simulation<N>;
    alphaTarget(a: number): Simulation<N>;
    velocityDecay(a: number): Simulation<N>;
    force(name: string): Force<N> | undefined;
    force(name: string, force: Force<N> | null): Simulation<N>;
    tick(iterations?: number): Simulation<N>;
    stop(): Simulation<N>;
  }
  type Acc<N, T> = T | ((node: N, i: number) => T);
  export interface LinkForce<N extends SimNode> extends Force<N> {
    links(links: SimLink<N>[]): LinkForce<N>;
    id(fn: (node: N) => string): LinkForce<N>;
    distance(d: Acc<SimLink<N>, number>): LinkForce<N>;
    strength(s: Acc<SimLink<N>, number>): LinkForce<N>;
  }
  export interface ManyBodyForce<N extends SimNode> extends Force<N> {
    strength(s: Acc<N, number>): ManyBodyForce<N>;
    theta(t: number): ManyBodyForce<N>;
    distanceMax(d: number): ManyBodyForce<N>;
  }
  export interface PositionForce<N extends SimNode> extends Force<N> {
    strength(s: Acc<N, number>): PositionForce<N>;
    x(v: Acc<N, number>): PositionForce<N>;
    y(v: Acc<N, number>): PositionForce<N>;
    z(v: Acc<N, number>): PositionForce<N>;
  }
  export function forceSimulation<N extends SimNode>(nodes?: N[], numDimensions?: number): Simulation<N>;
  export function forceLink<N extends SimNode>(links?: SimLink<N>[]): LinkForce<N>;
  export function forceManyBody<N extends SimNode>(): ManyBodyForce<N>;
  export function forceCenter<N extends SimNode>(x?: number, y?: number, z?: number): Force<N>;
  export function forceX<N extends SimNode>(x?: Acc<N, number>): PositionForce<N>;
  export function forceY<N extends SimNode>(y?: Acc<N, number>): PositionForce<N>;
  export function forceZ<N extends SimNode>(z?: Acc<N, number>): PositionForce<N>;
}
