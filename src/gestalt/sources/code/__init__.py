"""Code Mode: repositories on disk as packages, modules and their imports (see source.py)."""

from gestalt.sources.code.source import CodeSource

__all__ = ["CodeSource"]
