"""Draw calls do not grow with the number of entities (instancing, one buffer per style)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.harness import gestalt_server, wait_until

# The same kinds at both sizes, through the URL's filter, so the same batches are in use.
KINDS = "pod,container,service,deployment,replicaset,namespace"


def draw_calls(open_page: Any, workdir: Path, entities: int) -> tuple[int, int]:
    synthetic = {"entities": entities, "edges": entities * 2, "churn_per_second": 0}
    with gestalt_server(workdir, {"synthetic": synthetic}, {"max_entities": 20000}) as url:
        page = open_page(f"{url}/?kind={KINDS}")
        wait_until(lambda: page.evaluate("__gestalt.viewNodes") > 0, 60, "the map")
        frames = page.evaluate("__gestalt.frames")
        wait_until(lambda: page.evaluate("__gestalt.frames") > frames + 2, 60, "frames")
        result = page.evaluate("[__gestalt.drawCalls, __gestalt.viewNodes]")
        page.context.close()  # before the server goes, so that no stream breaks under it
        return result[0], result[1]


def test_draw_calls_constant_from_100_to_10000(open_page: Any, tmp_path: Path) -> None:
    small_calls, small_nodes = draw_calls(open_page, tmp_path / "small", 100)
    large_calls, large_nodes = draw_calls(open_page, tmp_path / "large", 10000)
    assert large_nodes > 50 * small_nodes
    assert large_calls == small_calls, (small_calls, large_calls)
