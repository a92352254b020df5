"""How `gestalt query` prints a value in a table cell."""

from __future__ import annotations

import time

from gestalt.cli.printing import _cell, _clock


def test_a_time_today_is_its_clock_and_an_older_one_carries_its_date() -> None:
    now = time.mktime((2026, 11, 30, 15, 0, 0, 0, 0, -1))
    this_morning = time.mktime((2026, 11, 30, 9, 5, 7, 0, 0, -1))
    yesterday = time.mktime((2026, 11, 29, 23, 59, 58, 0, 0, -1))
    assert _clock(this_morning, now) == "09:05:07"
    assert _clock(yesterday, now) == "2026-11-29 23:59:58"


def test_cells() -> None:
    assert _cell("time", time.time()).count(":") == 2
    assert _cell("memory_bytes", 3 * 1024 * 1024) == "3.0 MiB"
    assert _cell("name", None) == "-"
    assert _cell("ratio", 0.12345) == "0.123"
