"""The HTTP API (FastAPI): REST, Server-Sent Events, paths, operations, the web UI."""

from gestalt.api.app import create_app

__all__ = ["create_app"]
