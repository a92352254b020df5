"""OTLP traces become the service map: see `source.OtlpSource`."""

from gestalt.sources.otlp.source import OtlpSource

__all__ = ["OtlpSource"]
