"""Actions: one request, checked in a fixed order, audited whatever happens.

The order: actions enabled -> the operator token (`X-Gestalt-Operator-Token`; the viewer
token is never enough) -> the Origin (a browser page of another site never acts) -> the
target (what it is, that it exists, that the allow-lists name it) -> dry run, or the rate
limit and then the action. Every request, refused or not, is one row of the audit log
(audit.py) and one entry of the event feed, so a refusal is as visible as an action.

NATS has no actions: every NATS operation that would break something (deleting a stream,
purging, kicking a client) destroys data or needs account credentials Gestalt should not
hold; chaos for NATS is better done by stopping its container or pod.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gestalt.engine.actions.audit import AuditLog
from gestalt.engine.actions.docker import VERBS, DockerActions
from gestalt.engine.actions.kubernetes import KubernetesActions
from gestalt.engine.actions.policy import Policy, RateLimit, Refused
from gestalt.model import EntityKind, Event, Severity
from gestalt.model.config import ActionsConfig

KUBERNETES = {"delete_pod": "pod", "scale": "deployment", "cordon": "node", "uncordon": "node"}
ACTIONS = (*KUBERNETES, *VERBS)
NATS = ("none: NATS has no actions; stop its container or pod to take it away "
        "(deleting streams or kicking clients destroys data)")
_KINDS = {"pod": EntityKind.POD, "deployment": EntityKind.DEPLOYMENT, "node": EntityKind.NODE,
          "container": EntityKind.CONTAINER}
_PAST = {"stop": "stopped", "kill": "killed", "pause": "paused", "unpause": "unpaused",
         "restart": "restarted"}


@dataclass
class ActionRequest:
    action: str
    target: str  # an entity id: pod:, deployment:, node: (Kubernetes) or container:
    replicas: int | None = None
    dry_run: bool = False
    experiment: str = ""


@dataclass
class Caller:
    token: str | None  # the operator token presented, if any
    client: str = ""
    origin: str = ""
    origin_allowed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Target:
    kind: str  # pod, deployment, node, container
    name: str
    namespace: str = ""
    cluster: str = ""
    ident: str = ""  # the container id


class Actions:
    def __init__(self, config: ActionsConfig, data_dir: Path,
                 emit: Callable[[Event], None]) -> None:
        self.config = config
        self.audit = AuditLog(data_dir / "actions.sqlite3")
        self.policy = Policy(config)
        self.rate = RateLimit(config.rate_limit, config.rate_window)
        self.kubernetes = KubernetesActions(config)
        self.docker = DockerActions(config)
        self._emit = emit

    def describe(self) -> dict[str, Any]:
        """What the UI may offer (no secrets): shown to viewers too."""
        c = self.config
        return {"enabled": c.enabled, "actions": list(ACTIONS) if c.enabled else [],
                "kubernetes": c.kubeconfig is not None, "docker": c.docker_socket is not None,
                "nats": NATS, "namespaces": c.namespaces, "nodes": c.nodes,
                "containers": c.containers, "label_selector": c.label_selector,
                "rate_limit": c.rate_limit, "rate_window": c.rate_window}

    async def perform(self, request: ActionRequest, caller: Caller) -> dict[str, Any]:
        """The audit entry of a done (or dry-run) action; raises Refused, audited."""
        params: dict[str, Any] = {"dry_run": request.dry_run, **caller.extra}
        if request.replicas is not None:
            params["replicas"] = request.replicas
        try:
            self._admit(caller)
            target = self._parse(request)
            await self._allowed(target)
            if request.dry_run:
                outcome, message = "dry_run", f"would {self._words(request, target)}"
            else:
                self.rate.check()
                self.rate.spend()
                params["started_at"] = time.time()  # the audit row is written after it
                outcome, message = "done", await self._execute(request, target, params)
        except Refused as exc:
            self._record(request, caller, params, "refused", exc.message)
            raise
        except Exception as exc:  # an action that failed half-way is evidence too
            self._record(request, caller, params, "failed", f"{type(exc).__name__}: {exc}")
            raise Refused(502, f"{request.action} failed: {exc}") from exc
        return self._record(request, caller, params, outcome, message)

    def refused_unread(self, *, client: str, origin: str, token: str | None, path: str,
                       reason: str) -> None:
        """A request refused before it could be read (by the HTTP layer: a foreign Origin,
        no viewer token, a bad body): audited and in the feed like any other refusal."""
        self._record(ActionRequest(action="(unread)", target="(unread)"),
                     Caller(token=token, client=client, origin=origin), {"path": path},
                     "refused", reason)

    # -- the checks ------------------------------------------------------------------
    def _admit(self, caller: Caller) -> None:
        if not self.config.enabled:
            raise Refused(403, "actions are disabled (actions.enabled: false); Gestalt is "
                               "read-only unless an operator turns them on")
        expected = self.config.operator_token or ""
        if not caller.token or not hmac.compare_digest(caller.token.encode(), expected.encode()):
            raise Refused(401, "actions need the operator token in X-Gestalt-Operator-Token "
                               "(the viewer token cannot act)")
        if not caller.origin_allowed:
            raise Refused(403, f"actions from origin {caller.origin!r} are refused")

    def _parse(self, request: ActionRequest) -> Target:
        if request.action not in ACTIONS:
            raise Refused(400, f"unknown action {request.action!r}; one of: "
                               f"{', '.join(ACTIONS)} (NATS: none)")
        kind, _, rest = request.target.partition(":")
        wanted = KUBERNETES.get(request.action, "container")
        if kind != wanted:
            raise Refused(400, f"{request.action} acts on a {wanted}, not {request.target!r}")
        if kind == "container":
            if not rest or not all(c in "0123456789abcdef" for c in rest):
                raise Refused(400, f"not a container id: {request.target!r}")
            return Target("container", "", ident=rest)
        parts = rest.split("/")
        if kind == "node" and len(parts) == 2 and parts[0] != "host":
            return Target("node", parts[1], cluster=parts[0])
        if kind in ("pod", "deployment") and len(parts) == 3:
            return Target(kind, parts[2], namespace=parts[1], cluster=parts[0])
        raise Refused(400, f"not a Kubernetes {kind} id: {request.target!r}")

    async def _allowed(self, target: Target) -> None:
        if target.kind == "container":
            info = await self.docker.inspect(target.ident)
            target.name = info["name"]
            self.policy.container(info["name"], info["labels"])
            return
        cluster = await self.kubernetes.cluster()
        if target.cluster != cluster:
            raise Refused(400, f"the target is in cluster {target.cluster!r}; "
                               f"actions.kubeconfig reaches {cluster!r}")
        if target.kind == "node":
            self.policy.node(target.name)
            return
        self.policy.namespace(target.namespace)  # before asking the cluster anything
        group = "/api/v1" if target.kind == "pod" else "/apis/apps/v1"
        obj = await self.kubernetes.get(f"{group}/namespaces/{target.namespace}/"
                                        f"{target.kind}s/{target.name}")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        self.policy.kubernetes_object(target.namespace, labels)

    # -- doing it --------------------------------------------------------------------
    async def _execute(self, request: ActionRequest, target: Target,
                       params: dict[str, Any]) -> str:
        action = request.action
        if action == "delete_pod":
            return await self.kubernetes.delete_pod(target.namespace, target.name)
        if action == "scale":
            if request.replicas is None or not 0 <= request.replicas <= 1000:
                raise Refused(400, "scale needs replicas between 0 and 1000")
            before, message = await self.kubernetes.scale(target.namespace, target.name,
                                                          request.replicas)
            params["previous_replicas"] = before  # so it can be scaled back
            return message
        if action in ("cordon", "uncordon"):
            return await self.kubernetes.set_unschedulable(target.name, action == "cordon")
        await self.docker.act(action, target.ident)
        return f"container {target.name} {_PAST[action]}"

    @staticmethod
    def _words(request: ActionRequest, target: Target) -> str:
        what = target.name if target.kind == "container" else \
            f"{target.kind} {target.namespace + '/' if target.namespace else ''}{target.name}"
        if request.action == "scale":
            return f"scale {what} to {request.replicas}"
        return f"{request.action.replace('_pod', '')} {what}"

    def _record(self, request: ActionRequest, caller: Caller, params: dict[str, Any],
                outcome: str, message: str) -> dict[str, Any]:
        expected = (self.config.operator_token or "").encode()
        verified = bool(caller.token) and hmac.compare_digest(
            (caller.token or "").encode(), expected) and bool(expected)
        entry = self.audit.record(
            actor="operator" if verified else "anonymous" if not caller.token else "unverified",
            client=caller.client, origin=caller.origin,
            action=request.action, target=request.target, params=params, outcome=outcome,
            message=message, experiment=request.experiment)
        kind = _KINDS.get(request.target.partition(":")[0], EntityKind.NODE)
        self._emit(Event(
            id=f"action:{entry['id']}", type="Normal" if outcome in ("done", "dry_run")
            else "Warning", reason=f"Action{outcome.title().replace('_', '')}",
            message=f"{request.action} {request.target}: {outcome}: {message}",
            entity_id=request.target[:500], entity_kind=kind,
            entity_name=request.target.rsplit("/", 1)[-1][:200], timestamp=entry["at"],
            severity=Severity.WARNING if outcome in ("refused", "failed") else Severity.INFO,
            source="actions"))
        return entry
