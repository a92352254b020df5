"""The `gestalt` command: serve the live map, query paths, check configuration, run a demo.

Each command is a function of its own module (`serve`, `query`, `demo`); they are
registered here, in the order `gestalt --help` lists them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec
import typer

import gestalt
from gestalt.cli.common import app, load, out
from gestalt.cli.demo import demo
from gestalt.cli.query import query
from gestalt.cli.serve import serve


def check_config(
    file: Annotated[Path, typer.Argument(help="The configuration file to validate.")],
) -> None:
    """Validate a configuration file (and GESTALT_* overrides) without starting anything:
    the same checks `serve` makes."""
    from gestalt.engine.alerts.manager import receivers_of
    from gestalt.engine.alerts.receivers import target_url

    config = load(file)
    enabled = [f.name for f in msgspec.structs.fields(config.collectors)
               if getattr(config.collectors, f.name).enabled]
    out.print(f"{file}: ok (collectors enabled: {', '.join(enabled) or 'none'})")
    if config.alerts.enabled:
        for receiver, _repeat in receivers_of(config):
            out.print(f"  alerts go to {receiver.name} ({receiver.type}): "
                      f"POST {target_url(receiver)}")


def version() -> None:
    """Print the version."""
    out.print(gestalt.__version__)


app.command()(serve)
app.command("check-config")(check_config)
app.command()(query)
app.command()(demo)
app.command()(version)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()

