// The timeline's scrubber from the keyboard. A range input moves one `step` (0.1 s, so that
// a drag lands anywhere) per arrow key: over an hour of history, nothing a user would see.
// The arrows go to the previous or next recorded change instead (as the step buttons do),
// Page Up / Page Down a tenth of the span, Home to the oldest moment, End back to live.

export type ScrubMove = { step: -1 | 1 } | { to: number } | { live: true };

/** What `key` does on a scrubber spanning `start`..`end` (s) now at `at`; null: the
 * browser's own handling (Tab, and keys the scrubber does not use). */
export function scrubMove(key: string, at: number, start: number, end: number): ScrubMove | null {
  const tenth = (end - start) / 10;
  switch (key) {
    case "ArrowLeft":
    case "ArrowDown":
      return { step: -1 };
    case "ArrowRight":
    case "ArrowUp":
      return { step: 1 };
    case "PageDown":
      return { to: Math.max(start, at - tenth) };
    case "PageUp":
      return { to: Math.min(end, at + tenth) };
    case "Home":
      return { to: start };
    case "End":
      return { live: true };
    default:
      return null;
  }
}
