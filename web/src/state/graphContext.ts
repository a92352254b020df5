// The page's one GraphStore reaches components through React context (main.tsx provides
// it), so that no module holds it as a global and a test can render a panel on a graph
// of its own.
import { createContext, useContext } from "react";
import type { GraphStore } from "./graph";

export const GraphContext = createContext<GraphStore | null>(null);

/** The graph the page shows (read it in render; panels re-render on `graphRevision`). */
export function useGraph(): GraphStore {
  const graph = useContext(GraphContext);
  if (!graph) throw new Error("useGraph: no GraphContext.Provider above this component");
  return graph;
}
