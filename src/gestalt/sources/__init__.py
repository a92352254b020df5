"""Sources: each watches one kind of system and reports observations through a Sink."""

from gestalt.sources.base import (
    PermanentSourceError,
    Sink,
    Source,
    SourceError,
    SourceUnavailable,
)

__all__ = ["PermanentSourceError", "Sink", "Source", "SourceError", "SourceUnavailable"]
