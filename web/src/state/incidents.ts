// One incident, one entry: a failing container also fails its pod, and the pod its
// replica set and deployment. Problems are grouped by their root workload, the top of the
// `owns` chain below what merely contains things (a namespace, a node, a NATS server).

/** Kinds that contain workloads without being one: an incident stops below them. */
export const CONTAINERS = new Set(["namespace", "node", "nats_server"]);

/** The root of `id` along `parent` (child -> owner), stopping below containers. */
export function incidentRoot<K>(id: K, parent: (id: K) => K | undefined, kindOf: (id: K) => string | undefined): K {
  let current = id;
  for (let hops = 0; hops < 8; hops++) {
    const up = parent(current);
    if (up === undefined || CONTAINERS.has(kindOf(up) ?? "")) break;
    current = up;
  }
  return current;
}
