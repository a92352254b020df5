import { useEffect } from "react";
import { HealthSummary } from "./panels/HealthSummary";
import { ActiveFilters } from "./panels/Filters";
import { Legend } from "./panels/Legend";
import { OutageBanner, useDisconnected } from "./panels/OutageBanner";
import { MetricsOverlay } from "./panels/MetricsOverlay";
import { SidePanel } from "./panels/SidePanel";
import { TopBar } from "./panels/TopBar";
import { MapCanvas } from "./scene/MapCanvas";
import { useUi } from "./state/ui";

export function App() {
  const selected = useUi((s) => s.selected);
  const setSheetOpen = useUi((s) => s.setSheetOpen);
  useEffect(() => { if (selected) setSheetOpen(true); }, [selected, setSheetOpen]);
  const down = useDisconnected();
  return (
    <div className={down ? "app disconnected" : "app"} data-disconnected={down || undefined}>
      <TopBar />
      <main className="stage">
        <MapCanvas />
        <OutageBanner down={down} />
        <ActiveFilters />
        <HealthSummary />
        <Legend />
        <MetricsOverlay />
      </main>
      <SidePanel />
    </div>
  );
}
