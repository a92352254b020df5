// Code Mode in the details: a module's imports and importers, and what runs it (the
// processes, containers and pods "runs as" edges lead to, with their health and the
// evidence); for something that runs, the code it runs. A package or repository shows
// what runs any of its modules.
import type { Connection, Entity } from "../api/types";
import type { GraphStore } from "../state/graph";
import { useGraph } from "../state/graphContext";
import { CODE_KINDS } from "../state/view";
import { EntityLink } from "./EntityLink";
import { bytes, percent } from "./format";

/** The entity and what it owns, for code (a package's modules). */
function withDescendants(graph: GraphStore, id: string): Set<string> {
  const found = new Set([id]);
  const queue = [id];
  const children = new Map<string, string[]>();
  for (const edge of graph.edges.values()) {
    if (edge.kind === "owns") (children.get(edge.source_id) ?? children.set(edge.source_id, []).get(edge.source_id)!).push(edge.target_id);
  }
  while (queue.length) {
    for (const child of children.get(queue.pop()!) ?? []) {
      if (!found.has(child)) { found.add(child); queue.push(child); }
    }
  }
  return found;
}

function health(graph: GraphStore, id: string): string {
  const e = graph.entities.get(id);
  if (!e) return "gone";
  if (e.stale) return "stale";
  return e.health_status === "ok" ? "healthy" : e.health_status ?? "unknown";
}

/** What it uses now, where measured: "CPU 3 % · 120 MB". */
function usage(graph: GraphStore, id: string): string {
  const e = graph.entities.get(id);
  const parts = [e?.cpu_percent != null ? `CPU ${percent(e.cpu_percent)}` : "",
    e?.memory_bytes != null ? bytes(e.memory_bytes) : ""].filter(Boolean);
  return parts.length ? ` · ${parts.join(" · ")}` : "";
}

function List({ title, testid, edges, end, graph }: { title: string; testid: string; edges: Connection[]; end: "source_id" | "target_id"; graph: GraphStore }) {
  if (!edges.length) return null;
  return (
    <>
      <h4>{title} ({edges.length})</h4>
      <ul className="relations" data-testid={testid}>
        {edges.slice(0, 40).map((c) => (
          <li key={c.id} data-id={c[end]} title={String(c.attrs?.evidence ?? "")}>
            <EntityLink id={c[end]} />
            {c.kind === "imports" && <span className="muted"> {String(c.attrs?.statements ?? 1)}×</span>}
            {c.kind === "runs_as" && <span className={`muted h-${health(graph, c[end])}`}> {health(graph, c[end])}{usage(graph, c[end])} · {String(c.attrs?.evidence ?? "")}</span>}
          </li>
        ))}
      </ul>
    </>
  );
}

export function CodeLinks({ entity }: { entity: Entity }) {
  const graph = useGraph();
  const code = CODE_KINDS.has(entity.kind);
  const scope = code ? withDescendants(graph, entity.id) : new Set([entity.id]);
  const runsAs: Connection[] = [];
  const runsCode: Connection[] = [];
  const imports: Connection[] = [];
  const importers: Connection[] = [];
  for (const edge of graph.edges.values()) {
    if (edge.kind === "runs_as") {
      if (scope.has(edge.source_id)) runsAs.push(edge);
      if (edge.target_id === entity.id) runsCode.push(edge);
    } else if (edge.kind === "imports" && entity.kind === "module") {
      if (edge.source_id === entity.id) imports.push(edge);
      if (edge.target_id === entity.id) importers.push(edge);
    }
  }
  if (!runsAs.length && !runsCode.length && !imports.length && !importers.length) {
    return code ? <p className="muted small" data-testid="runs-as-none">Nothing seen running this code.</p> : null;
  }
  return (
    <div className="code-links">
      <List title="Runs as" testid="runs-as" edges={runsAs} end="target_id" graph={graph} />
      <List title="Runs code" testid="runs-code" edges={runsCode} end="source_id" graph={graph} />
      <List title="Imports" testid="imports" edges={imports} end="target_id" graph={graph} />
      <List title="Imported by" testid="importers" edges={importers} end="source_id" graph={graph} />
    </div>
  );
}
