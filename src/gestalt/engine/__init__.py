"""The engine: hub, versioned store, change log, health, history and supervisor."""
