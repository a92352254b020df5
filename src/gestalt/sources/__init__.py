"""Sources: each watches one kind of system and reports observations through a Sink."""

from gestalt.sources.base import (
    PermanentSourceError,
    ReceivesStreams,
    SamplesMessages,
    Sink,
    Source,
    SourceError,
    SourceUnavailable,
)

__all__ = ["PermanentSourceError", "ReceivesStreams", "SamplesMessages", "Sink", "Source",
           "SourceError", "SourceUnavailable"]
