"""Capture two past moments of a real `gestalt serve` and the changes between them into
web/tests/fixtures/topology-moments.json, for the web UI's test of applying a change
(web/tests/graph.test.ts): `before` and `after` are `?at=` answers, `forward` is
`?at=<after>&since=<before>` and `backward` the reverse; `diff` is
`/api/infra/topology/diff?from=<before>&to=<after>` (what a comparison of the two shows).

    PYTHONPATH=src .venv/bin/python scripts/capture-moments.py

The synthetic source (30 entities, pods replaced, restarting and recovering) records a few
seconds of history first; the two moments are two seconds apart.
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

OUT = ROOT / "web" / "tests" / "fixtures" / "topology-moments.json"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, gestalt_server(
        Path(tmp), {"synthetic": {"entities": 30, "edges": 60, "churn_per_second": 10.0}}
    ) as url, httpx.Client(base_url=url, timeout=30) as client:
        start = time.time()
        time.sleep(6)  # recording a past to capture, not synchronisation
        before, after = start + 2, start + 4

        def get(path: str = "/api/infra/topology", **params: float) -> dict[str, Any]:
            response = client.get(path, params=params)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

        captured = {"before": get(at=before), "after": get(at=after),
                    "forward": get(at=after, since=before), "backward": get(at=before, since=after),
                    "diff": get("/api/infra/topology/diff", **{"from": before, "to": after})}
    OUT.write_text(json.dumps(captured, indent=1) + "\n")
    forward = captured["forward"]
    print(f"{OUT}: {len(forward['upserts'])} upserts, {len(forward['removals'])} removals, "
          f"{len(forward['edge_upserts'])} edge upserts forward; "
          f"{len(captured['diff']['entities']['removed'])} removed in the diff")


if __name__ == "__main__":
    main()
