"""Who is asking and what they may do: tokens, users and Kubernetes RBAC.

Two kinds of users, as on a real cluster:

- the kubeconfig's user (`kubesim-user`, in `system:masters`): may do everything, less
  the test's deny rules (`Rbac.forbid`), which is all a test of "403 on one resource"
  needs;
- service accounts (`KubeSim.service_account_token`): authorized by the RBAC objects in
  the store, exactly as the API server's RBAC authorizer does it: ClusterRoleBindings
  grant their ClusterRole everywhere, RoleBindings grant their Role (or ClusterRole) in
  their namespace; rules match by API group, resource (or resource/subresource), verb
  and resourceNames; a namespace read by name counts as a request in that namespace.
  Every authenticated user may also create SelfSubjectAccessReviews (the bootstrap
  role `system:basic-user`) and read discovery (`system:discovery`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from gestalt.sim.kubesim.resources import STORED

Obj = dict[str, Any]

AUTHENTICATED = "system:authenticated"
# The bootstrap rules every authenticated user has (system:basic-user).
BASIC_USER_RULES: tuple[Obj, ...] = (
    {"apiGroups": ["authorization.k8s.io"],
     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
)


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = (AUTHENTICATED,)
    admin: bool = False


ADMIN = User("kubesim-user", ("system:masters", AUTHENTICATED), admin=True)


def service_account_user(namespace: str, name: str) -> User:
    return User(f"system:serviceaccount:{namespace}:{name}",
                ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED))


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do, as the authorizer sees it."""

    verb: str
    group: str
    resource: str  # plural
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @classmethod
    def of(cls, verb: str, group: str, resource: str, namespace: str | None,
           name: str | None, subresource: str | None = None) -> Attributes:
        if resource == "namespaces" and group == "" and name:
            namespace = name  # GET /api/v1/namespaces/x is a request in namespace x
        return cls(verb, group, resource, namespace, name, subresource)


@dataclass
class Rbac:
    """Deny rules for the admin user: `{"deny": [{"resource": "secrets", "verbs":
    ["list", "watch"]}]}`. Anything not denied is allowed."""

    deny: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_file(cls, path: str) -> Rbac:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        return cls(deny=list(data.get("deny") or []))

    def forbid(self, resource: str, verbs: list[str] | None = None,
               namespace: str | None = None) -> None:
        self.deny.append({"resource": resource, "verbs": verbs or ["*"],
                          "namespaces": [namespace] if namespace else []})

    def allows(self, verb: str, resource: str, namespace: str | None) -> bool:
        for rule in self.deny:
            if rule.get("resource") not in (resource, "*"):
                continue
            verbs = rule.get("verbs") or ["*"]
            namespaces = rule.get("namespaces") or []
            if ("*" in verbs or verb in verbs) and (not namespaces or namespace in namespaces):
                return False
        return True


class Authorizer:
    def __init__(self, store: Any, deny: Rbac) -> None:
        self.store, self.deny = store, deny

    def allows(self, user: User, attrs: Attributes) -> bool:
        if user.admin:
            return self.deny.allows(attrs.verb, attrs.resource, attrs.namespace)
        return any(rule_matches(rule, attrs) for rule in self.rules(user, attrs.namespace))

    def rules(self, user: User, namespace: str | None) -> list[Obj]:
        """The rules that apply to `user` for a request in `namespace` (None: a
        cluster-scoped request or one across all namespaces)."""
        rules: list[Obj] = list(BASIC_USER_RULES)
        for binding in self.store.items(STORED[("rbac.authorization.k8s.io",
                                                "clusterrolebindings")]):
            if _bound(binding, user):
                rules += self._role_rules(binding.get("roleRef") or {}, None)
        if namespace:
            for binding in self.store.items(STORED[("rbac.authorization.k8s.io",
                                                    "rolebindings")], namespace):
                if _bound(binding, user):
                    rules += self._role_rules(binding.get("roleRef") or {}, namespace)
        return rules

    def _role_rules(self, ref: Obj, namespace: str | None) -> list[Obj]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.find(STORED[("rbac.authorization.k8s.io", "clusterroles")],
                                   None, ref.get("name", ""))
        elif ref.get("kind") == "Role" and namespace:
            role = self.store.find(STORED[("rbac.authorization.k8s.io", "roles")],
                                   namespace, ref.get("name", ""))
        else:
            role = None
        return list((role or {}).get("rules") or [])


def _bound(binding: Obj, user: User) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and \
                user.name == f"system:serviceaccount:{subject.get('namespace')}:{name}":
            return True
        if kind == "User" and name == user.name:
            return True
        if kind == "Group" and name in user.groups:
            return True
    return False


def rule_matches(rule: Obj, attrs: Attributes) -> bool:
    """One PolicyRule against a request, as the RBAC authorizer matches it."""
    def has(values: Any, wanted: str) -> bool:
        return "*" in (values or []) or wanted in (values or [])

    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not (has(rule.get("verbs"), attrs.verb) and has(rule.get("apiGroups"), attrs.group)
            and has(rule.get("resources"), resource)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (attrs.name is not None and attrs.name in names)
