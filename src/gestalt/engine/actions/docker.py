"""Docker actions on the engine named by `actions.docker_socket`: stop, kill, pause,
unpause, restart. The same Engine API calls `docker stop` and friends make."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gestalt.engine.actions.policy import Refused
from gestalt.model.config import ActionsConfig

if TYPE_CHECKING:
    import aiodocker

VERBS = ("stop", "kill", "pause", "unpause", "restart")


class DockerActions:
    def __init__(self, config: ActionsConfig) -> None:
        self.config = config

    def _client(self) -> aiodocker.Docker:
        # Imported here: aiohttp and aiodocker cost a server that never acts ~10 MB.
        import aiodocker

        if self.config.docker_socket is None:
            raise Refused(409, "Docker actions need an engine: set actions.docker_socket")
        return aiodocker.Docker(url=self.config.docker_socket)

    async def inspect(self, container_id: str) -> dict[str, Any]:
        """Name and labels, as the engine says now (not as the map last showed them)."""
        from aiodocker import DockerError

        async with self._client() as docker:
            try:
                info = await docker.containers.get(container_id)
            except DockerError as exc:
                raise Refused(404 if exc.status == 404 else 502,
                              f"docker: {exc.message}") from exc
            return {"name": str(info["Name"]).lstrip("/"),
                    "labels": dict(info["Config"].get("Labels") or {}),
                    "state": info["State"].get("Status")}

    async def act(self, verb: str, container_id: str) -> None:
        from aiodocker import DockerError

        async with self._client() as docker:
            try:
                container = docker.containers.container(container_id)
                await getattr(container, verb)()
            except DockerError as exc:
                raise Refused(409 if exc.status == 409 else 502,
                              f"docker {verb}: {exc.message}") from exc
