// Live / Code / Both: the running system, the code (Code Mode), or the code on its own
// layer above what runs it, joined by "runs as" edges.
import { useGraph } from "../state/graphContext";
import { useUi } from "../state/ui";
import type { Mode } from "../state/url";

const MODES: { id: Mode; label: string; title: string }[] = [
  { id: "live", label: "Live", title: "The running system" },
  { id: "code", label: "Code", title: "The code: repositories, packages, modules and their imports" },
  { id: "both", label: "Both", title: "The code above what runs it, joined by \"runs as\" edges" },
];

/** Shown where there is code to show (the code source runs), or a mode other than Live is on. */
export function ModeSwitch() {
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const mode = useUi((s) => s.filters.mode);
  const setFilters = useUi((s) => s.setFilters);
  const requestFit = useUi((s) => s.requestFit);
  if (mode === "live" && !graph.sources.some((s) => s.name === "code" && s.state !== "disabled")) return null;
  return (
    <div className="presets mode-switch" role="group" aria-label="Mode" data-testid="mode-switch">
      {MODES.map((m) => (
        <button key={m.id} type="button" className={mode === m.id ? "on" : ""} aria-pressed={mode === m.id}
          data-mode={m.id} title={m.title} onClick={() => { setFilters({ mode: m.id }); requestFit(); }}>{m.label}</button>
      ))}
    </div>
  );
}
