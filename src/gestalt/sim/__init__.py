"""Simulated systems for tests, benchmarks and `gestalt demo` (kubesim and scenarios).

Nothing here imports the sources, the engine, the API or the CLI: a simulator is a
stand-in for the outside world, not a part of Gestalt."""
