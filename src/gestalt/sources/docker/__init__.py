"""The `docker` source (aiodocker): containers, networks and volumes of one engine."""

from gestalt.sources.docker.source import DockerSource

__all__ = ["DockerSource"]
