"""The NATS source: servers, subjects, JetStream streams and consumers, and message flow."""

from gestalt.sources.nats.source import NatsSource

__all__ = ["NatsSource"]
