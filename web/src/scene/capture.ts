// The map as a PNG, on demand. The canvas keeps no copy of its last frame
// (preserveDrawingBuffer would cost every frame a copy, which a software renderer feels),
// so the picture is drawn once more and copied, with its labels and a caption
// (mapPicture.ts), in the same task, before the browser may clear the drawing buffer.
import { useSnapshot } from "../live/snapshotFile";
import { useColouring } from "../state/colouring";
import type { HealthCounts } from "../state/health";
import { useUi } from "../state/ui";
import type { LabelItem } from "./labelling";
import { caption, composeMapPicture, utcStamp } from "./mapPicture";

/** One full-resolution frame just drawn (read it before this task ends), what labels it
 * shows on screen, and the health of what it shows. */
export interface MapFrame {
  canvas: HTMLCanvasElement;
  labels: readonly LabelItem[];
  health: HealthCounts;
}

/** Set by MapCanvas once the scene exists. */
export const mapCapture: { frame: () => MapFrame | null } = { frame: () => null };

/** The map as drawn, labels and caption included, as a PNG; `at` the moment travelled to. */
export function mapPng(at: number | null): Promise<Blob | null> {
  const open = useSnapshot.getState().open;
  const moment = momentShown(at);
  const source = at !== null ? { kind: "past" as const } : open ? { kind: "snapshot" as const, file: open.file } : { kind: "live" as const };
  const frame = mapCapture.frame();
  if (!frame) return Promise.resolve(null);
  const text = caption({ site: useUi.getState().site, at: moment, source, health: frame.health });
  const picture = composeMapPicture(frame.canvas, frame.labels, text, { legend: useColouring.getState().colourBy === "health" });
  return new Promise((resolve) => picture.toBlob(resolve, "image/png"));
}

/** `gestalt-<site>-2026-11-30T08-15-00Z<suffix>`: named as the server names its exports
 * (api/exports.py `file_name`), after the moment shown (a past one, a snapshot's, or now). */
export function exportName(site: string, at: number | null, suffix: string): string {
  return `gestalt-${site}-${utcStamp(momentShown(at)).replace(/:/g, "-")}${suffix}`;
}

/** The moment the map shows: the one travelled to, an opened snapshot's, or now. */
function momentShown(at: number | null): number {
  return at ?? useSnapshot.getState().open?.at ?? Date.now() / 1000;
}

/** Save the map as a PNG named after the site and the moment shown. */
export async function downloadMapPng(at: number | null): Promise<void> {
  const blob = await mapPng(at);
  if (!blob) throw new Error("the map could not be drawn to a picture");
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = exportName(useUi.getState().site, at, ".png");
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
