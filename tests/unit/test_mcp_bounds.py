"""MCP answers are bounded: a long list (or a document's lists) is paged to fit the
budget, with a note that says how many there are and the next offset."""

from __future__ import annotations

import msgspec

from gestalt.api.mcp import bounded


def rows(n: int) -> list[dict[str, object]]:
    return [{"id": f"pod:c/ns/web-{i:04}", "status": "running", "cpu": i * 0.5} for i in range(n)]


def test_a_small_answer_is_whole() -> None:
    answer, notes = bounded(rows(3), budget=10_000)
    assert answer == rows(3) and notes == []


def test_a_long_list_is_paged_and_every_row_is_reachable() -> None:
    everything, budget = rows(500), 4_000
    seen: list[object] = []
    offset = 0
    while True:
        page, notes = bounded(everything, offset, budget)
        assert len(msgspec.json.encode(page)) <= budget
        assert page, notes
        seen += page
        offset += len(page)
        assert "of 500 shown" in notes[0]
        if offset == 500:
            assert "offset=" not in notes[0]
            break
        assert f"offset={offset}" in notes[0]
    assert seen == everything


def test_a_documents_lists_are_paged_together() -> None:
    document = {"version": 7, "entities": rows(300), "connections": rows(40)}
    page, notes = bounded(document, 0, 3_000)
    assert page["version"] == 7
    size = len(page["entities"])
    assert 0 < size < 40 and len(page["connections"]) == size  # both lists, one page size
    assert any(n.startswith("entities: 1-") and "of 300" in n for n in notes)
    page, notes = bounded(document, 290, 3_000)
    assert page["connections"] == [] and len(page["entities"]) == 10
    assert any("entities: 291-300 of 300 shown" == n for n in notes)
