// A snapshot shown instead of the live map (a dropped file, or `gestalt serve
// --open-snapshot`): a badge over the map says so, with its file and moment (over the map,
// as the "Not live" banner: in the top bar it squeezed the search box); a file that could
// not be opened says why in one line.
import { useSnapshot } from "../live/snapshotFile";
import { isoTime } from "../state/time";
import { stamp } from "./Timeline";

export function SnapshotBadge() {
  const { open, error } = useSnapshot();
  return (
    <>
      {open && (
        <span className="snapshot-badge" data-testid="snapshot-badge" data-origin={open.origin} role="status" data-obstacle
          title={`Read-only: the map as it was at ${isoTime(open.at)}, from ${open.file}`}>
          <b>snapshot</b> <span className="snapshot-file">{open.file}</span> · <time dateTime={isoTime(open.at)}>{stamp(open.at)}</time>
          {open.origin === "file" && (
            <button type="button" className="chip" onClick={() => window.location.reload()}>Back to live</button>
          )}
        </span>
      )}
      {error && (
        <div className="snapshot-error" role="alert" data-testid="snapshot-error">
          {error}
          <button type="button" className="chip" onClick={() => useSnapshot.setState({ error: null })}>Dismiss</button>
        </div>
      )}
    </>
  );
}
