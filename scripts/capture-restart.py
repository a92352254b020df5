"""Capture what a page sees across a restart of `gestalt serve` (SIGTERM, then the same
config and data dir) into web/tests/fixtures/restart-*, for the web UI's test of keeping
the event feed through it (web/tests/eventFeed.test.ts):

- `restart-events-before.sse`: the event stream from the first server, as a page opens it;
- `restart-events-after.sse`: the event stream from the second server, resumed with the
  `Last-Event-ID` of the last event the first one sent (as EventSource does);
- `restart-topology-after.sse`: the second server's topology stream resumed from the first
  one's last version (a `snapshot`: nothing says what vanished while no server watched);
- `restart-events.json`: `/api/infra/events?since=<the newest event held>&limit=200`
  (`missed`, with its `since`) and `?limit=1000` (`all`) from the second server.

    PYTHONPATH=src .venv/bin/python scripts/capture-restart.py

The synthetic source replaces pods as it churns, so some events of the first run are
about pods that the second one's map no longer has.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.e2e.harness: the server the browser tests start

from tests.e2e.harness import gestalt_server  # noqa: E402
from tests.support.daemons import free_port  # noqa: E402

FIXTURES = ROOT / "web" / "tests" / "fixtures"
CONFIG = {"synthetic": {"entities": 40, "edges": 60, "churn_per_second": 10.0, "seed": 3}}


def read_stream(url: str, seconds: float, *, headers: dict[str, str] | None = None,
                frames: int | None = None) -> str:
    """The stream's text for `seconds`, or up to its `frames`-th frame; whole frames only."""
    text = ""
    deadline = time.monotonic() + seconds
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(5, read=2)) as response:
        response.raise_for_status()
        try:
            for chunk in response.iter_text():
                text += chunk
                if time.monotonic() > deadline or (frames and complete(text) >= frames):
                    break
        except httpx.ReadTimeout:
            pass
    return text[: text.rfind("\n\n") + 2]


def complete(text: str) -> int:
    """How many whole frames with data `text` holds."""
    return sum(1 for block in text.split("\n\n")[:-1] if "data: " in block)


def frame_ids(text: str) -> list[str]:
    return [line[4:] for line in text.splitlines() if line.startswith("id: ")]


def event_data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with gestalt_server(workdir, CONFIG, port=port) as url:
            time.sleep(8)  # a history for the stream's first 50 (recording, not syncing)
            before = read_stream(f"{url}/api/infra/events/stream", 10)
            topology = read_stream(f"{url}/api/infra/topology/stream", 5, frames=1)
            time.sleep(2)  # events the page will have missed before the stop
        time.sleep(2)
        with gestalt_server(workdir, CONFIG, port=port) as url:
            time.sleep(6)  # and after the start
            after = read_stream(f"{url}/api/infra/events/stream", 2,
                                headers={"Last-Event-ID": frame_ids(before)[-1]})
            resumed = read_stream(f"{url}/api/infra/topology/stream?last_event_id="
                                  f"{frame_ids(topology)[-1]}", 5, frames=1)
            since = max(e["timestamp"] for e in event_data(before))
            with httpx.Client(base_url=url, timeout=30) as client:
                missed = client.get("/api/infra/events",
                                    params={"since": since, "limit": 200}).json()
                every = client.get("/api/infra/events", params={"limit": 1000}).json()
    (FIXTURES / "restart-events-before.sse").write_text(before)
    (FIXTURES / "restart-events-after.sse").write_text(after)
    (FIXTURES / "restart-topology-after.sse").write_text(resumed)
    (FIXTURES / "restart-events.json").write_text(
        json.dumps({"since": since, "missed": missed["events"], "all": every["events"]},
                   indent=1) + "\n")
    snapshot = event_data(resumed)[0]
    on_map = {e["id"] for e in snapshot["entities"]}
    gone = {e["entity_id"] for e in event_data(before)} - on_map
    print(f"{len(event_data(before))} events before, {len(event_data(after))} replayed after, "
          f"{len(missed['events'])} since {since}, {len(every['events'])} in all; "
          f"{len(gone)} entities of events before not on the map after")


if __name__ == "__main__":
    main()
