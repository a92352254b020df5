// The map as a PNG, on demand. The canvas keeps no copy of its last frame
// (preserveDrawingBuffer would cost every frame a copy, which a software renderer feels),
// so the picture is drawn once more and read back in the same task, before the browser
// may clear the drawing buffer.
import { isoTime } from "../state/time";

/** Set by MapCanvas once the scene exists. */
export const mapCapture: { png: () => Promise<Blob | null> } = { png: async () => null };

/** Save the map as `gestalt-map-<moment>.png` (the moment shown, or now). */
export async function downloadMapPng(at: number | null): Promise<void> {
  const blob = await mapCapture.png();
  if (!blob) throw new Error("the map could not be drawn to a picture");
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `gestalt-map-${isoTime(at ?? Date.now() / 1000).replace(/[:.]/g, "-")}.png`;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
