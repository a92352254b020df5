import { useEffect } from "react";
import { HealthSummary } from "./panels/HealthSummary";
import { TopSpenders } from "./panels/Insight";
import { ActiveFilters } from "./panels/Filters";
import { Legend } from "./panels/Legend";
import { OutageBanner, useDisconnected } from "./panels/OutageBanner";
import { MetricsOverlay } from "./panels/MetricsOverlay";
import { SidePanel } from "./panels/SidePanel";
import { TimeBanner, Timeline, UrlNotice } from "./panels/Timeline";
import { TopBar } from "./panels/TopBar";
import { MapCanvas } from "./scene/MapCanvas";
import { useSnapshot } from "./live/snapshotFile";
import { SnapshotBadge } from "./panels/SnapshotBadge";
import { useTime } from "./state/time";
import { useUi } from "./state/ui";

export function App() {
  const selected = useUi((s) => s.selected);
  const setSheetOpen = useUi((s) => s.setSheetOpen);
  useEffect(() => { if (selected) setSheetOpen(true); }, [selected, setSheetOpen]);
  const down = useDisconnected();
  const past = useTime((s) => s.at !== null);
  // A dropped snapshot file has no history on this server to travel in.
  const fromFile = useSnapshot((s) => s.open?.origin === "file");
  const snapshot = useSnapshot((s) => s.open !== null);
  return (
    <div className={`app${down ? " disconnected" : ""}${past ? " past" : ""}${snapshot ? " snapshot" : ""}`} data-disconnected={down || undefined}
      data-past={past || undefined}>
      <TopBar />
      <main className="stage">
        <MapCanvas />
        <OutageBanner down={down} />
        <TimeBanner />
        <UrlNotice />
        <SnapshotBadge />
        <ActiveFilters />
        <HealthSummary />
        <Legend />
        <MetricsOverlay />
        <TopSpenders />
      </main>
      <SidePanel />
      {!fromFile && <Timeline />}
    </div>
  );
}
