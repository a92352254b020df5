// The side panel (a bottom sheet on phones): details of the selection, the event feed,
// the alerts. Tabs are buttons with aria roles, reachable by keyboard.
import { useUi, type Tab } from "../state/ui";
import { Alerts, useIncidents } from "./Alerts";
import { Details } from "./Details";
import { EventFeed, isAlertEvent } from "./EventFeed";

const TABS: { id: Tab; label: string }[] = [
  { id: "details", label: "Details" }, { id: "events", label: "Events" }, { id: "alerts", label: "Alerts" },
];

export function SidePanel() {
  const tab = useUi((s) => s.tab);
  const setTab = useUi((s) => s.setTab);
  const sheetOpen = useUi((s) => s.sheetOpen);
  const setSheetOpen = useUi((s) => s.setSheetOpen);
  const incidents = useIncidents().filter((i) => i.state === "firing");
  const critical = incidents.some((i) => i.severity === "critical");
  const changes = useUi((s) => s.events.filter((e) => !isAlertEvent(e)).length);
  return (
    <aside className={sheetOpen ? "side open" : "side"} aria-label="Panels" data-testid="side" data-obstacle>
      <button type="button" className="sheet-handle" aria-expanded={sheetOpen} onClick={() => setSheetOpen(!sheetOpen)}>
        <span />{sheetOpen ? "Hide" : "Details · Events · Alerts"}
      </button>
      <div className="tabs" role="tablist">
        {TABS.map((t) => (
          <button key={t.id} type="button" role="tab" aria-selected={tab === t.id} className={tab === t.id ? "on" : ""}
            data-tab={t.id} onClick={() => { setTab(t.id); setSheetOpen(true); }}>
            {t.label}
            {t.id === "alerts" && incidents.length > 0 && (
              <span className={critical ? "count bad" : "count warn"} data-testid="alerts-badge"
                title={`${incidents.length} incidents firing`}>{incidents.length}</span>
            )}
            {t.id === "events" && changes > 0 && <span className="count">{changes}</span>}
          </button>
        ))}
      </div>
      <div className="tab-body" role="tabpanel">
        {tab === "details" && <Details />}
        {tab === "events" && <EventFeed />}
        {tab === "alerts" && <Alerts />}
      </div>
    </aside>
  );
}
