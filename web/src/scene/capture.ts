// The map as a PNG, on demand. The canvas keeps no copy of its last frame
// (preserveDrawingBuffer would cost every frame a copy, which a software renderer feels),
// so the picture is drawn once more and read back in the same task, before the browser
// may clear the drawing buffer.
import { useSnapshot } from "../live/snapshotFile";
import { useUi } from "../state/ui";

/** Set by MapCanvas once the scene exists. */
export const mapCapture: { png: () => Promise<Blob | null> } = { png: async () => null };

/** `gestalt-<site>-2026-11-30T08-15-00Z<suffix>`: named as the server names its exports
 * (api/exports.py `file_name`), after the moment shown (a past one, a snapshot's, or now). */
export function exportName(site: string, at: number | null, suffix: string): string {
  const moment = at ?? useSnapshot.getState().open?.at ?? Date.now() / 1000;
  const stamp = new Date(Math.floor(moment) * 1000).toISOString().replace(/\.\d+Z$/, "Z").replace(/:/g, "-");
  return `gestalt-${site}-${stamp}${suffix}`;
}

/** Save the map as a PNG named after the site and the moment shown. */
export async function downloadMapPng(at: number | null): Promise<void> {
  const blob = await mapCapture.png();
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
