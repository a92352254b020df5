import { StrictMode } from "react";
import { setConsoleFunction } from "three";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { installSnapshotDrop } from "./live/snapshotFile";
import { startLive } from "./live/start";
import { GraphStore } from "./state/graph";
import { GraphContext } from "./state/graphContext";
import { installTestHooks } from "./testHooks";
import "./styles.css";

// react-three-fiber (9.x) still makes a THREE.Clock, which three r183+ reports as
// deprecated on every load: that one message is not ours to fix and would hide real ones.
// Everything else three says goes to the console as before.
setConsoleFunction((type: "log" | "warn" | "error", message: string, ...params: unknown[]) => {
  if (type === "warn" && message.startsWith("THREE.Clock: This module has been deprecated")) return;
  console[type](message, ...params);
});

const graph = new GraphStore();
const live = startLive(graph);
installTestHooks(graph, live);
installSnapshotDrop(graph, live);
createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <GraphContext.Provider value={graph}>
      <App />
    </GraphContext.Provider>
  </StrictMode>,
);
