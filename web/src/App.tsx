import { useEffect } from "react";
import { HealthSummary } from "./panels/HealthSummary";
import { Legend } from "./panels/Legend";
import { MetricsOverlay } from "./panels/MetricsOverlay";
import { SidePanel } from "./panels/SidePanel";
import { TopBar } from "./panels/TopBar";
import { MapCanvas } from "./scene/MapCanvas";
import { useUi } from "./state/ui";

export function App() {
  const selected = useUi((s) => s.selected);
  const setSheetOpen = useUi((s) => s.setSheetOpen);
  useEffect(() => { if (selected) setSheetOpen(true); }, [selected, setSheetOpen]);
  return (
    <div className="app">
      <TopBar />
      <main className="stage">
        <MapCanvas />
        <HealthSummary />
        <Legend />
        <MetricsOverlay />
      </main>
      <SidePanel />
    </div>
  );
}
