"""The `actions` section: changes to infrastructure (chaos experiments), off by default.

Gestalt is read-only unless an operator turns this on on purpose, and even then it acts
only with a token of its own (never the viewer's `server.token`), only on what the
allow-lists name, at most `rate_limit` times per `rate_window`, and with its own write
credentials (never the read credentials the sources use). See docs/actions.md.
"""

from __future__ import annotations

from gestalt.model.config.types import Positive, Seconds, Section


class ActionsConfig(Section):
    enabled: bool = False
    # Sent as `X-Gestalt-Operator-Token`; required when enabled, and not server.token.
    operator_token: str | None = None
    # Kubernetes: namespaces whose pods and deployments may be acted on (empty: none),
    # nodes (name patterns, `*` allowed) that may be cordoned (empty: none).
    namespaces: list[str] = []
    nodes: list[str] = []
    # A label selector (`chaos=allowed,tier!=db`) targets must match, for Kubernetes
    # objects and Docker containers alike (empty: no label condition).
    label_selector: str = ""
    # Docker: container name patterns (`shop-*`) that may be acted on (empty: none).
    containers: list[str] = []
    rate_limit: Positive = 5
    rate_window: Seconds = 60.0
    # Write credentials, apart from collectors.kubernetes' read ones: a kubeconfig whose
    # user has the verbs of deploy/kubernetes/overlays/actions (None: no Kubernetes actions).
    kubeconfig: str | None = None
    context: str | None = None
    # The Docker engine to act on (None: no Docker actions).
    docker_socket: str | None = None
