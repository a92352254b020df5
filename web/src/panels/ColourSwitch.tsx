// Colour the map by health (default) or by GitOps drift (docs/gitops.md).
import { type ColourBy, useColouring } from "../state/colouring";

const CHOICES: { id: ColourBy; label: string; title: string }[] = [
  { id: "health", label: "Health", title: "Colour by health" },
  { id: "drift", label: "Drift", title: "Colour by GitOps drift: in sync, drifted, missing, extra; dark: not in Git" },
];

export function ColourSwitch() {
  const colourBy = useColouring((s) => s.colourBy);
  const set = useColouring((s) => s.setColourBy);
  return (
    <div className="presets" role="group" aria-label="Colour by" data-testid="colour-switch">
      {CHOICES.map((c) => (
        <button key={c.id} type="button" className={colourBy === c.id ? "on" : ""} aria-pressed={colourBy === c.id}
          data-colour={c.id} title={c.title} onClick={() => set(c.id)}>{c.label}</button>
      ))}
    </div>
  );
}
