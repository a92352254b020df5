"""What the Kubernetes source reads, and whether RBAC lets it: one table for the source,
for `gestalt check-access` and for the RBAC rules in deploy/kubernetes.

The source asks before it lists: a kind RBAC does not grant is never requested, so a
namespaced install (Roles only) costs the API server no stream of 403s and the source
no retry loop; the kind is reported "not permitted" and asked about again every
`RECHECK` seconds, in case access is granted later. Asking is a SelfSubjectAccessReview,
what `kubectl auth can-i` sends; every authenticated user may create one (the
`system:basic-user` role) and it changes nothing.

Scope: with `collectors.kubernetes.namespaces` empty everything is read cluster-wide and
every kind is required. With namespaces listed, the namespaced kinds are required in
each of them; cluster-scoped kinds (nodes, persistent volumes, the namespace list) are
optional, and each listed namespace is then read by name (`get`), which a Role in that
namespace can grant.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gestalt.model.config import KubernetesCollector
from gestalt.sources.kubernetes.api import (
    KINDS,
    NAMESPACES,
    NODE_METRICS,
    POD_METRICS,
    Api,
    Kind,
)

RECHECK = 300.0  # seconds between asking again about what is not permitted


@dataclass(frozen=True)
class Need:
    """One permission the source uses: `verb` on `kind`, in `namespace` (None: the
    whole cluster), of object `name` only (a namespace read by name)."""

    kind: Kind
    verb: str
    namespace: str | None
    name: str | None = None
    required: bool = True
    why: str = ""

    @property
    def key(self) -> tuple[str, str, str | None, str | None]:
        return (self.kind.kind, self.verb, self.namespace, self.name)

    @property
    def scope(self) -> str:
        if self.name:
            return f"{self.name} (by name)"
        return self.namespace or ("cluster" if not self.kind.namespaced else "all namespaces")


def needs(config: KubernetesCollector) -> list[Need]:
    """Every permission the source uses with this configuration."""
    namespaces: list[str | None] = list(config.namespaces) or [None]
    namespaced = bool(config.namespaces)
    out: list[Need] = []
    for kind in KINDS:
        if kind.namespaced:
            for ns in namespaces:
                out += [Need(kind, verb, ns, why=_why(kind)) for verb in ("list", "watch")]
        else:
            out += [Need(kind, verb, None, required=not namespaced, why=_why(kind))
                    for verb in ("list", "watch")]
    if namespaced:
        out += [Need(NAMESPACES, "get", ns, name=ns, required=False,
                     why="the namespace itself, where the namespace list is not permitted")
                for ns in config.namespaces]
    out += [Need(POD_METRICS, "list", ns, required=False, why="pod CPU and memory")
            for ns in namespaces]
    out.append(Need(NODE_METRICS, "list", None, required=False, why="node CPU and memory"))
    return out


def _why(kind: Kind) -> str:
    if kind.metadata_only:
        return f"{kind.plural}: names, types and keys only (metadata view; never the data)"
    return {"Event": "the event feed", "EndpointSlice": "service endpoints and traffic",
            "Namespace": "the namespaces", "Node": "nodes and their capacity",
            "PersistentVolume": "volumes behind claims"}.get(kind.kind, kind.plural)


class Permissions:
    """The server's answers: True, False, or None where it would not answer (no
    SelfSubjectAccessReview there; the source then tries, and learns from a 403)."""

    def __init__(self, answers: list[tuple[Need, bool | None]]) -> None:
        self.answers = answers
        self._by_key = {need.key: allowed for need, allowed in answers}

    def allows(self, kind: Kind, verb: str, namespace: str | None,
               name: str | None = None) -> bool:
        return self._by_key.get((kind.kind, verb, namespace, name)) is not False

    def readable(self, kind: Kind, namespace: str | None) -> bool:
        """Whether an informer may run: list and watch."""
        return self.allows(kind, "list", namespace) and self.allows(kind, "watch", namespace)

    @property
    def refused(self) -> list[Need]:
        return [need for need, allowed in self.answers if allowed is False]

    def updated(self, newer: Permissions) -> Permissions:
        """These answers, with those `newer` gives again replaced."""
        fresh = {need.key: (need, allowed) for need, allowed in newer.answers}
        return Permissions([fresh.get(need.key, (need, allowed))
                            for need, allowed in self.answers])

    @property
    def missing_required(self) -> list[Need]:
        return [need for need, allowed in self.answers if need.required and allowed is False]

    @property
    def unanswered(self) -> bool:
        return any(allowed is None for _need, allowed in self.answers)


async def review(api: Api, wanted: list[Need]) -> Permissions:
    """Ask about every need at once."""
    answers = await asyncio.gather(*(api.can(n.verb, n.kind, n.namespace, n.name)
                                     for n in wanted))
    return Permissions(list(zip(wanted, answers, strict=True)))
