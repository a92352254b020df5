// CPU / memory / network bars for the selection, with sparklines of its history (uPlot),
// and message rate and queue depth for NATS subjects.
import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api/http";
import type { Entity, SeriesBand } from "../api/types";
import { useGraph } from "../state/graphContext";
import { metric } from "../scene/mapping";
import { knownAt } from "../state/compare";
import { useTime } from "../state/time";
import { useUi } from "../state/ui";
import { bytes, percent, rate } from "./format";

/** The series, and its expected band (the anomaly model's) as dashed lines when known. */
function Sparkline({ points, colour, band }: { points: [number, number][]; colour: string; band?: SeriesBand }) {
  const host = useRef<HTMLDivElement>(null);
  const low = band && band.state !== "learning" ? band.expected_low : null;
  const high = band && band.state !== "learning" ? band.expected_high : null;
  useEffect(() => {
    if (!host.current || points.length < 2) return;
    const edge = { stroke: "#9aa4b8", width: 1, dash: [3, 3], points: { show: false } };
    const lines = low === null || high === null ? [] : [edge, edge];
    const data: uPlot.AlignedData = [points.map((p) => p[0]), points.map((p) => p[1]),
      ...(lines.length ? [points.map(() => low), points.map(() => high)] : [])];
    const plot = new uPlot(
      {
        width: 150, height: 28, pxAlign: false, cursor: { show: false }, legend: { show: false },
        scales: { x: { time: false } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: colour, width: 1.5, fill: `${colour}33`, points: { show: false } }, ...lines],
      },
      data,
      host.current,
    );
    return () => plot.destroy();
  }, [points, colour, low, high]);
  return <div className="spark" ref={host} data-band={low === null ? undefined : `${low},${high}`} />;
}

function Bar({ label, value, max, text, colour, series, band }: {
  label: string; value: number | null; max: number; text: string; colour: string; series?: [number, number][]; band?: SeriesBand;
}) {
  const fraction = value == null ? 0 : Math.min(1, value / max);
  return (
    <div className="metric">
      <div className="metric-head"><span>{label}</span><b>{text}</b></div>
      <div className="bar"><i style={{ width: `${fraction * 100}%`, background: colour }} /></div>
      {band?.state === "unusual" && <div className="unusual-note" data-testid="unusual-note">unusual: expected {band.expected_low.toPrecision(3)}–{band.expected_high.toPrecision(3)}</div>}
      {series && series.length > 1 && <Sparkline points={series} colour={colour} band={band} />}
    </div>
  );
}

export function MetricsOverlay() {
  const graph = useGraph();
  const selected = useUi((s) => s.selected);
  useUi((s) => s.graphRevision);
  // Nothing selected, nothing follows the moment (a drag moves it 30 times a second).
  const shownAt = useTime((s) => (selected === null ? null : s.at));
  const diff = useTime((s) => s.diff);
  // A ghost's history ends when it was last seen (the server has nothing of it later).
  const at = selected ? knownAt(selected, shownAt, diff) : shownAt;
  const [series, setSeries] = useState<Record<string, [number, number][]>>({});
  const [bands, setBands] = useState<Record<string, SeriesBand>>({});
  useEffect(() => {
    setSeries({});
    setBands({});
    // A folded group (agg:...) has no history of its own.
    if (!selected || selected.startsWith("agg:")) return;
    let live = true;
    // In the past the sparklines end at the moment shown (their last point is the cursor),
    // and the values are that moment's samples (the recorded map carries none).
    const load = () => {
      api.metrics(selected, (at ?? Date.now() / 1000) - 900, at)
        .then((m) => { if (live) setSeries(m.series); })
        .catch(() => undefined);
      // The expected band is the live model's: only while live.
      if (at === null) {
        api.anomalySeries(selected)
          .then((r) => { if (live) setBands(Object.fromEntries(r.series.map((b) => [b.series, b]))); })
          .catch(() => undefined);
      }
    };
    load();
    if (at !== null) {
      api.entity(selected, at).then((d) => {
        if (live && d.metrics) graph.applyMetrics({ timestamp: at, values: { [selected]: d.metrics } });
      }).catch(() => undefined);
    }
    const timer = at === null ? setInterval(load, 5000) : null;
    return () => { live = false; if (timer) clearInterval(timer); };
  }, [selected, at, graph]);
  const e: Entity | undefined = selected ? graph.entities.get(selected) : undefined;
  if (!e) return null;
  const net = (e.network_rx_rate ?? 0) + (e.network_tx_rate ?? 0);
  const hasNet = e.network_rx_rate != null || e.network_tx_rate != null;
  // The NATS source's names (docs/api.md, Units): subjects and streams, servers, consumers.
  const msgRate = metric(e, "msgs_per_sec", "in_msgs_per_sec", "delivered_per_sec");
  const depth = metric(e, "queue_depth", "num_pending");
  if (e.cpu_percent == null && e.memory_bytes == null && !hasNet && msgRate == null && depth == null) return null;
  return (
    <section className="metrics-overlay" aria-label="Metrics" data-testid="metrics" data-obstacle>
      <div className="metrics-title">{e.name}</div>
      {e.cpu_percent != null && (
        <Bar label="CPU" value={e.cpu_percent} max={100} text={percent(e.cpu_percent)} colour="#4f8cff" series={series.cpu_percent} band={bands.cpu_percent} />
      )}
      {e.memory_bytes != null && (
        <Bar label="Memory" value={e.memory_bytes} max={e.memory_limit || Math.max(e.memory_bytes * 1.5, 1)}
          text={`${bytes(e.memory_bytes)}${e.memory_limit ? ` / ${bytes(e.memory_limit)}` : ""}`} colour="#b37bff" series={series.memory_bytes} band={bands.memory_bytes} />
      )}
      {hasNet && (
        <Bar label="Network" value={net} max={Math.max(net * 1.3, 1024 * 1024)}
          text={`↓${bytes(e.network_rx_rate ?? 0)}/s ↑${bytes(e.network_tx_rate ?? 0)}/s`} colour="#2fd5e8" series={series.network_rx_rate} band={bands.network_rx_rate} />
      )}
      {msgRate != null && <Bar label="Message rate" value={msgRate} max={Math.max(msgRate * 1.3, 100)} text={rate(msgRate, " msg/s")} colour="#b37bff" />}
      {depth != null && <Bar label="Queue depth" value={depth} max={Math.max(depth * 1.3, 100)} text={String(Math.round(depth))} colour="#f9b72a" />}
    </section>
  );
}
