"""Libraries' optional parts that no `gestalt` process uses, kept out of its memory.

Imported first by `gestalt.cli`, before anything imports httpx or FastAPI:

- httpx imports its own command-line client (`httpx._main`: click, rich and pygments'
  lexers, 4.4 MB resident) whenever those are installed, as they are for this CLI.
- FastAPI imports pydantic's v1 layer (`pydantic.v1`, 2.2 MB) when it builds a route's
  fields, only to refuse v1 models, which this project never declares.

A None in `sys.modules` makes `import` raise ImportError, which both libraries expect and
handle (httpx: a stub `main`; FastAPI: "not a v1 model"). Measured on `gestalt serve` at
10,000 entities (bench/server_rss.py): 6.6 MB less, for every server and every agent.
"""

from __future__ import annotations

import sys

UNUSED = ("httpx._main", "pydantic.v1")

for _name in UNUSED:
    sys.modules.setdefault(_name, None)  # type: ignore[arg-type]  # None: "do not import"
