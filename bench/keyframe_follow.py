"""A site's periodic keyframe, read by the hub (`SiteMirror`), in the hub's process alone:
the CPU each part takes on the event loop, and the whole keyframe's. While a site's
keyframe is read its deltas stored behind it wait, and the other sites' wait between its
parts: the worst of the agents' latencies in bench/federation.py --full were the deltas
of a site right behind its keyframe (a periodic keyframe every 60 s per agent there).

Cases, for a synthetic site of 10,000 entities and about 18,000 edges (the issue's scale),
in parts of the agents' default size (512 KiB):
- `first`: the site's first keyframe (every item decoded; a whole picture for the hub);
- `same`: the next keyframe, nothing changed since;
- `after_deltas`: the next one after 600 changes (a minute of the bench's churn per site)
  the hub read as deltas, as it does from the stream;
- `after_missed`: the same keyframe to a hub that missed those deltas (it learns them from
  the keyframe: every item compared).
The parts carry the keyframe's digest, as the agents' do: `same` and `after_deltas` are
known by it (when the hub's own sum agrees). Each case is repeated; the figures are per
part and per keyframe."""

from __future__ import annotations

import gc
import time

import msgspec
from benchlib import command_line, summary_ms, write_result

from gestalt.model import Delta
from gestalt.model.changes import encode
from gestalt.model.config import SyntheticCollector
from gestalt.model.federation import AGENT_HEADER, STARTED_HEADER, digest_of, keyframe_parts
from gestalt.sources.agents.mirror import Incoming, SiteMirror
from gestalt.sources.synthetic import SyntheticWorld

ENTITIES = 10_000
PART_BYTES = 512 * 1024
REPEATS = 12
CHURN = 600

_encode = msgspec.json.Encoder().encode
_HEADERS = {AGENT_HEADER: "bench-agent", STARTED_HEADER: "1"}


def parts_of(world: SyntheticWorld, version: int) -> list[bytes]:
    entities = [_encode(e) for e in world.entities.values()]
    connections = [_encode(c) for c in world.connections.values()]
    return keyframe_parts(version, time.time(), entities, connections, PART_BYTES,
                          digest=digest_of(entities, connections))


def read(mirror: SiteMirror, parts: list[bytes]) -> tuple[list[float], object]:
    """Each part's time to read (s), and the keyframe's outcome."""
    took: list[float] = []
    outcome: object = None
    for seq, body in enumerate(parts):
        started = time.perf_counter()
        outcome = mirror.apply(Incoming("keyframe", body, _HEADERS, seq, time.time()))
        took.append(time.perf_counter() - started)
    return took, outcome


def case(name: str, make: object) -> dict[str, object]:
    """`make()` gives a mirror and the keyframe it is to read."""
    per_part: list[float] = []
    whole: list[float] = []
    outcome: object = None
    parts: list[bytes] = []
    verified = 0
    for _ in range(REPEATS):
        mirror, parts = make()  # type: ignore[operator]
        gc.collect()
        took, outcome = read(mirror, parts)
        per_part += took
        whole.append(sum(took))
        verified = mirror.verified
    print(f"{name}: keyframe p50 {summary_ms(whole)['p50_ms']:.1f} ms, "
          f"part p50 {summary_ms(per_part)['p50_ms']:.2f} ms", flush=True)
    return {"parts": len(parts), "outcome": type(outcome).__name__,
            "known_by_digest": bool(verified),
            "keyframe": summary_ms(whole), "part": summary_ms(per_part)}


def main() -> None:
    command_line(__doc__)
    world = SyntheticWorld(SyntheticCollector(entities=ENTITIES, edges=ENTITIES, seed=11,
                                              cluster="site0"))
    first = parts_of(world, 1)

    def fresh() -> tuple[SiteMirror, list[bytes]]:
        return SiteMirror("site0", max_bytes=1 << 20), first

    def known() -> tuple[SiteMirror, list[bytes]]:
        mirror = SiteMirror("site0", max_bytes=1 << 20)
        read(mirror, first)
        return mirror, first

    deltas = []
    for version in range(2, 2 + CHURN):
        upserts, edge_upserts, removals, edge_removals, _ = world.churn()
        deltas.append(encode(Delta(version=version, timestamp=time.time(), upserts=upserts,
                                   removals=removals, edge_upserts=edge_upserts,
                                   edge_removals=edge_removals)))
    later = parts_of(world, 1 + CHURN)

    def followed() -> tuple[SiteMirror, list[bytes]]:
        mirror = SiteMirror("site0", max_bytes=1 << 20)
        read(mirror, first)
        for seq, body in enumerate(deltas):
            mirror.apply(Incoming("delta", body, _HEADERS, seq, time.time()))
        return mirror, later

    def missed() -> tuple[SiteMirror, list[bytes]]:
        mirror = SiteMirror("site0", max_bytes=1 << 20)
        read(mirror, first)
        return mirror, later

    result = {
        "site": f"{len(world.entities)} entities, {len(world.connections)} edges, "
                f"{sum(map(len, first)) / 1e6:.1f} MB in parts of {PART_BYTES // 1024} KiB",
        "repeats": REPEATS,
        "first": case("first", fresh),
        "same": case("same", known),
        "after_deltas": case("after_deltas", followed),
        "after_missed": case("after_missed", missed),
    }
    print(f"written to {write_result('keyframe_follow', result)}")


if __name__ == "__main__":
    main()
