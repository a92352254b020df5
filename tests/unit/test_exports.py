"""The view's exports: names a NATS subject or a process may carry survive into the file."""

from __future__ import annotations

from gestalt.api.exports import FORMATS
from gestalt.model import Entity, EntityKind


def test_mermaid_labels_keep_wildcards_and_quotes_as_entity_codes() -> None:
    write = FORMATS["mermaid"][0]
    subject = Entity(id="nats-subject:s/orders.>", kind=EntityKind.NATS_SUBJECT, name="orders.>")
    odd = Entity(id="process:h/1", kind=EntityKind.PROCESS, name='say "hi"; #1 <x>')
    text = write({}, [subject, odd], []).decode()
    assert '["nats_subject: orders.#gt;"]' in text
    assert 'say #quot;hi#quot;#59; #35;1 #lt;x#gt;' in text
