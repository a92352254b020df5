"""The `gestalt` command: serve the live map, query paths, check configuration and access,
run a demo, answer an AI assistant (MCP).

Each command is a function of its own module (`serve`, `check`, `query`, `demo`, `mcp`);
they are registered here, in the order `gestalt --help` lists them.
"""

from __future__ import annotations

# isort: off
import gestalt.cli.lean  # noqa: F401  (first: before anything imports httpx or FastAPI)
# isort: on

import os
import sys

import typer
from rich.text import Text

import gestalt
from gestalt.cli.agent import agent
from gestalt.cli.check import check_access, check_config
from gestalt.cli.common import app, err, out
from gestalt.cli.demo import demo
from gestalt.cli.mcp import mcp
from gestalt.cli.query import query
from gestalt.cli.serve import serve


def version() -> None:
    """Print the version."""
    out.print(gestalt.__version__)


app.command()(serve)
app.command()(agent)
app.command("check-config")(check_config)
app.command("check-access")(check_access)
app.command()(query)
app.command()(demo)
app.command()(mcp)
app.command()(version)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Not standalone: a usage error (`--port abc`) is one line like every other start-up
    # error, not a boxed panel wrapped at 80 columns. Typer (pinned) carries its own click;
    # tests/integration/test_cli.py fails if these names move.
    from typer._click import exceptions as usage

    try:
        code = app(standalone_mode=False, prog_name="gestalt")
    except usage.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except usage.UsageError as exc:
        where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        err.print(Text.assemble(("error:", "red"), " ",
                                " ".join(exc.format_message().split()) + where))
        sys.exit(exc.exit_code)
    except usage.ClickException as exc:
        err.print(Text.assemble(("error:", "red"), " ", " ".join(exc.format_message().split())))
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
