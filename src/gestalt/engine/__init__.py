"""The engine: hub, versioned store, health, history, broadcaster and supervisor."""
