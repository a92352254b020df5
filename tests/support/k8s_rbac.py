"""The RBAC of deploy/kubernetes, rendered by the real `kubectl kustomize`, granted in
kubesim, and held against kubesim's request log: did Gestalt ask for anything those
rules do not allow, or for a Secret's data?"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from gestalt.sim.kubesim import KubeSim, Request
from gestalt.sim.kubesim.rbac import BASIC_USER_RULES, rule_matches

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
SERVICE_ACCOUNT = ("gestalt", "gestalt")  # namespace, name, as in deploy/kubernetes/base
USER = "system:serviceaccount:gestalt:gestalt"


def render(overlay: str) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(OVERLAYS / overlay)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def rbac_of(overlay: str) -> list[dict[str, Any]]:
    return [d for d in render(overlay) if d["kind"] in RBAC_KINDS]


def grant(sim: KubeSim, rbac: list[dict[str, Any]]) -> str:
    """Create the service account and the overlay's RBAC objects in kubesim, as
    `kubectl apply -k` would; returns a fresh token of the service account."""
    namespace, name = SERVICE_ACCOUNT
    store = sim.store
    if store.find(_resource("Namespace"), None, namespace) is None:
        store.create({"kind": "Namespace", "metadata": {"name": namespace}})
    store.create({"kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    for document in rbac:
        store.create(yaml.safe_load(yaml.safe_dump(document)))
    return sim.service_account_token(namespace, name)


def _resource(kind: str) -> Any:
    from gestalt.sim.kubesim import BY_KIND

    return BY_KIND[kind]


def outside(requests: list[Request], rbac: list[dict[str, Any]],
            user: str = USER) -> list[Request]:
    """The requests of `user` that the overlay's rules (and the rules every authenticated
    user has) do not allow: a ClusterRole's rules anywhere, a Role's in its namespace."""
    cluster_rules = [r for d in rbac if d["kind"] == "ClusterRole" for r in d["rules"]]
    namespaced = [(d["metadata"]["namespace"], r) for d in rbac if d["kind"] == "Role"
                  for r in d["rules"]]
    bad = []
    for request in requests:
        if request.user != user or request.verb == "discovery":
            continue
        attrs = request.attributes()
        rules = list(BASIC_USER_RULES) + cluster_rules + [
            rule for ns, rule in namespaced if attrs.namespace == ns]
        if not any(rule_matches(rule, attrs) for rule in rules):
            bad.append(request)
    return bad


def secret_data_reads(requests: list[Request]) -> list[Request]:
    """Requests for Secrets that could have returned their data: anything but the
    metadata views, with no plain-JSON fallback in the Accept header."""
    bad = []
    for request in requests:
        if request.resource != "secrets":
            continue
        views = [part.strip() for part in request.accept.split(",")]
        if not views or any("as=" not in view for view in views):
            bad.append(request)
    return bad


def write_service_account(root: Path, sim: KubeSim, token: str, namespace: str = "gestalt"
                          ) -> Path:
    """The files the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount, laid
    out as it lays them out (a `..data` symlink to a timestamped directory, swapped
    atomically on rotation)."""
    root.mkdir(parents=True, exist_ok=True)
    rotate(root, token, ca=sim.ca, namespace=namespace)
    for name in ("token", "ca.crt", "namespace"):
        link = root / name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / name)
    return root


def rotate(root: Path, token: str, *, ca: bytes | None = None,
           namespace: str | None = None) -> None:
    """Replace the token as the kubelet does: write a new directory, swap `..data`."""
    current = root / "..data"
    previous = Path(os.readlink(current)) if current.is_symlink() else None
    generation = sum(1 for p in root.iterdir() if p.is_dir() and not p.is_symlink()) + 1
    new = root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{generation:06d}"
    new.mkdir()
    (new / "token").write_text(token)
    if previous is not None:
        for name in ("ca.crt", "namespace"):
            (new / name).write_bytes((root / previous / name).read_bytes())
    if ca is not None:
        (new / "ca.crt").write_bytes(ca)
    if namespace is not None:
        (new / "namespace").write_text(namespace)
    tmp = root / "..data_tmp"
    tmp.symlink_to(new.name)
    os.replace(tmp, current)
    os.chmod(new, 0o755)
