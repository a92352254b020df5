"""What every `gestalt` command shares: the Typer app, the consoles, one-line errors,
loading the configuration, logging, refusing an open bind."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
from rich.console import Console
from rich.text import Text

from gestalt.engine.validation import validate
from gestalt.model.config import Config, ConfigError, load_config, stray_variables

app = typer.Typer(
    name="gestalt",
    help="Gestalt Live: a live 3D map of a running system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstrings are wrapped at 90 columns: Markdown joins their lines into one paragraph
    # (in "rich" mode each line break showed mid-sentence in `--help`).
    rich_markup_mode="markdown",
)
# What is printed is data (names of processes, subjects, containers) and error text: never
# read it as Rich markup or emoji codes (`kgents.[/x]` would crash, `[bold]srv` would lose
# its name). Piped output is for reading later or for grep: never cut or wrap it to a
# terminal's width; an error stays on one line.
out = Console(width=None if sys.stdout.isatty() else 400, markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

LOG_LEVELS = ("debug", "info", "warning", "error")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Configuration file (default: $GESTALT_CONFIG, "
                 "else built-in defaults).", envvar="GESTALT_CONFIG", show_envvar=False),
]
LogLevelOption = Annotated[str, typer.Option(help="debug, info, warning, error.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, then exit: 2 for configuration and usage, 1 for the rest."""
    error(message)
    raise typer.Exit(code)


def error(message: str) -> None:
    err.print(Text.assemble(("error:", "red"), " ", " ".join(message.split())))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning:", "yellow"), " ", " ".join(message.split())))


def note(message: str) -> None:
    err.print(Text(" ".join(message.split()), style="dim"))


def load(config_path: Path | None, options: dict[str, tuple[str, object]] | None = None
          ) -> Config:
    """The configuration, validated the one way every command validates it; a mistyped
    GESTALT_ variable is warned about first (it would otherwise be silently ignored)."""
    for warning in stray_variables(os.environ):
        warn(warning)
    try:
        return load_config(config_path, options=options, validate=validate)
    except ConfigError as exc:
        *first, last = exc.problems  # every problem, one line each
        for problem in first:
            error(str(problem))
        fail(str(last))


def parse_log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        fail(f"--log-level: expected one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value.lower()


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # The HTTP clients log every request at info: one line per poll of every source.
    quiet = logging.DEBUG if level == "debug" else logging.WARNING
    for name in ("httpx", "httpcore", "mcp"):  # mcp: a line per /mcp request
        logging.getLogger(name).setLevel(max(quiet, logging.getLogger().level))


def refuse_open_bind(config: Config) -> None:
    """Secure by default: anything but a loopback bind needs a token. `serve`, `demo` and
    `check-config` refuse alike."""
    from gestalt.api.security import is_loopback

    if not is_loopback(config.server.host) and not config.server.token:
        fail(f"refusing to listen on {config.server.host} without a token: set --token "
              "(or server.token / GESTALT_TOKEN), or bind 127.0.0.1")


def raise_open_files_limit() -> None:
    """Every SSE client holds a socket: allow as many as the hard limit permits."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass


def transport_reason(exc: httpx.TransportError) -> str:
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = getattr(cause, "strerror", None) or str(cause) or type(exc).__name__
    return str(text)


def exit_now(code: int = 0) -> NoReturn:
    """End a long-running command once everything it opened is closed (history, audit log,
    sockets): skip the interpreter's teardown, which frees a large map's millions of objects
    one by one (seconds on a busy machine; Kubernetes' grace period and an operator's Ctrl-C
    should not wait for that)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
