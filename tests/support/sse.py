"""A small Server-Sent Events reader over httpx, for tests and benchmarks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Frame:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """Frames of an open streaming response, as they arrive (comments skipped)."""
    event, data, frame_id = "message", [], None
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield Frame(event, "\n".join(data), frame_id)
            event, data, frame_id = "message", [], None
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                frame_id = value


class TopologyMirror:
    """What a browser would hold: the state built from snapshot/delta/resync frames."""

    def __init__(self) -> None:
        self.version = -1
        self.entities: dict[str, dict[str, Any]] = {}
        self.connections: dict[str, dict[str, Any]] = {}
        self.gaps = 0

    def apply(self, frame: Frame) -> None:
        if frame.event in ("snapshot", "resync"):
            doc = frame.json()
            self.version = doc["version"]
            self.entities = {e["id"]: e for e in doc["entities"]}
            self.connections = {c["id"]: c for c in doc["connections"]}
        elif frame.event == "delta":
            delta = frame.json()
            if self.version >= 0 and delta["version"] != self.version + 1:
                self.gaps += 1
            self.version = delta["version"]
            for eid in delta.get("removals", []):
                self.entities.pop(eid, None)
            for entity in delta.get("upserts", []):
                self.entities[entity["id"]] = entity
            for cid in delta.get("edge_removals", []):
                self.connections.pop(cid, None)
            for conn in delta.get("edge_upserts", []):
                self.connections[conn["id"]] = conn
        elif frame.event == "metrics":
            for eid, values in frame.json()["values"].items():
                if eid in self.entities:
                    self.entities[eid].update(values)
