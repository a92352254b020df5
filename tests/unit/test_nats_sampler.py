"""The sampler's counting, per-subject sample cap and payload allow-list."""

from __future__ import annotations

from nats.aio.msg import Msg

from gestalt.model.config import NatsCollector
from gestalt.sources.nats.sampler import Sampler, describe

CONFIG = NatsCollector(subjects=["app.>"], payload_subjects=["app.public.*"],
                       max_payload_bytes=4, sample_per_second=3)


def msg(subject: str, data: bytes, headers: dict[str, str] | None = None) -> Msg:
    return Msg(_client=None, subject=subject, data=data, headers=headers)  # type: ignore[arg-type]


def test_payload_and_header_values_only_for_allow_listed_subjects() -> None:
    hidden = describe(msg("app.private.x", b"secret-value", {"Auth": "token"}), 1.0, CONFIG)
    assert hidden == {"subject": "app.private.x", "size": 12, "header_names": ["Auth"],
                      "timestamp": 1.0}
    shown = describe(msg("app.public.x", b"hello world", {"Trace": "t"}), 1.0, CONFIG)
    assert shown["payload"] == "hell" and shown["payload_truncated"] is True
    assert shown["headers"] == {"Trace": "t"}


def test_counts_every_message_but_samples_at_most_the_cap_per_second() -> None:
    sampler = Sampler(CONFIG, client_name="test")
    viewer = sampler.listen(["app.>"])
    for _ in range(10):
        sampler._count("app.>", msg("app.orders", b"12345"))
    counts, _ = sampler.take()
    assert counts == {"app.orders": [10, 50]}
    assert viewer.queue.qsize() == 3  # sample_per_second
    assert sampler.take()[0] == {}  # counting starts afresh


def test_quiet_subjects_are_forgotten() -> None:
    sampler = Sampler(CONFIG, client_name="test")
    sampler._count("app.>", msg("app.a", b""))
    sampler.forget(before=sampler.last_seen["app.a"] + 1)
    assert sampler.last_seen == {}
