// Colour the map by health (default), cost or waste, or GitOps drift (docs/gitops.md).
import { type ColourBy, useColouring } from "../state/colouring";
import { useGraph } from "../state/graphContext";
import { useInsight } from "../state/insight";
import { useUi } from "../state/ui";

const CHOICES: { id: ColourBy; label: string; title: string }[] = [
  { id: "health", label: "Health", title: "Colour by health" },
  { id: "cost", label: "Cost", title: "Colour by cost per hour: max(request, usage) × price" },
  { id: "waste", label: "Waste", title: "Colour by waste: requested but unused, priced" },
  { id: "drift", label: "Drift", title: "Colour by GitOps drift: in sync, drifted, missing, extra; dark: not in Git" },
];

/** The modes with something to show: cost and waste once there are prices, drift where
 * the gitops source runs; the one that is on, always. */
export function ColourSwitch() {
  const colourBy = useColouring((s) => s.colourBy);
  const set = useColouring((s) => s.setColourBy);
  const priced = useInsight((s) => s.totals !== null);
  const graph = useGraph();
  useUi((s) => s.graphRevision);
  const gitops = graph.sources.some((s) => s.name === "gitops" && s.state !== "disabled");
  const shown = CHOICES.filter((c) => c.id === colourBy || c.id === "health"
    || ((c.id === "cost" || c.id === "waste") && priced) || (c.id === "drift" && gitops));
  if (shown.length < 2) return null;
  return (
    <div className="presets" role="group" aria-label="Colour by" data-testid="colour-switch">
      {shown.map((c) => (
        <button key={c.id} type="button" className={colourBy === c.id ? "on" : ""} aria-pressed={colourBy === c.id}
          data-colour={c.id} title={c.title} onClick={() => set(c.id)}>{c.label}</button>
      ))}
    </div>
  );
}
