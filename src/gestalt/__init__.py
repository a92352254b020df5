"""Gestalt Live: one live 3D map of a running system."""

__version__ = "0.1.0"
