"""From files to desired objects: plain YAML (and JSON) documents, and kustomizations
rendered with `kubectl kustomize`, as Argo CD and Flux read an application's folder:

- the folder has a kustomization: it is rendered, and that is the whole desired state;
- otherwise every manifest under it is read (recursively), except that a sub-folder with a
  kustomization is rendered as one unit instead of read file by file.

Every problem is a per-file error (an unparsable document, a document that is not an
object, a kustomization that does not render, the same object twice) and the rest is still
compared. A Secret's `data` and `stringData` are dropped the moment a document is parsed:
secret values never enter the process, not even from Git.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gestalt.sources.gitops.repository import Checkout, is_manifest

Obj = dict[str, Any]
KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Desired:
    obj: Obj
    file: str  # the file (or kustomization folder) it came from


@dataclass
class Manifests:
    objects: list[Desired] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


async def load(checkout: Checkout, *, kubectl: str, timeout: float) -> Manifests:
    def named(name: str) -> str:  # as the repository names it
        return "/".join(part for part in (checkout.subpath, name) if part)

    out = Manifests(errors={named(n): m for n, m in checkout.errors.items()})
    roots = _kustomize_roots(checkout.files)
    if roots:
        with tempfile.TemporaryDirectory(prefix="gestalt-gitops-") as work:
            _materialise(checkout.files, Path(work))
            for root in roots:
                label = (named(root) or ".") + "/"
                rendered = await _render(kubectl, Path(work) / root, timeout)
                if isinstance(rendered, str):
                    out.errors[label] = rendered
                else:
                    _documents(rendered, f"{label} (kustomize)", out)
    for name, content in sorted(checkout.files.items()):
        if not is_manifest(name) or name.rsplit("/", 1)[-1] in KUSTOMIZATIONS:
            continue
        if any(_under(name, root) for root in roots):
            continue
        _documents(content, named(name), out)
    return out


def _documents(content: bytes, label: str, out: Manifests) -> None:
    try:
        documents = list(yaml.load_all(content, Loader=_Loader))  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        out.errors[label] = f"not valid YAML{where}: {problem}"
        return
    for index, document in enumerate(documents):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == "List" and isinstance(
                document.get("items"), list):
            items = document["items"]
        else:
            items = [document]
        for item in items:
            problem = _problem(item)
            if problem is not None:
                out.errors.setdefault(label, f"document {index + 1}: {problem}")
                continue
            if item.get("kind") == "Secret":
                item.pop("data", None)
                item.pop("stringData", None)
            out.objects.append(Desired(item, label))


def _problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return f"not a Kubernetes object (a {type(item).__name__})"
    for key in ("apiVersion", "kind"):
        if not isinstance(item.get(key), str) or not item[key]:
            return f"no `{key}`"
    meta = item.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        return f"{item['kind']} without `metadata.name`"
    return None


def _kustomize_roots(files: dict[str, bytes]) -> list[str]:
    folders = sorted({str(PurePosixPath(name).parent).removeprefix(".")
                      for name in files if name.rsplit("/", 1)[-1] in KUSTOMIZATIONS})
    if "" in folders:
        return [""]
    roots: list[str] = []
    for folder in folders:  # sorted: a parent comes before its children
        if not any(_under(folder + "/", root) for root in roots):
            roots.append(folder)
    return roots


def _under(name: str, root: str) -> bool:
    return root == "" or name.startswith(root + "/")


def _materialise(files: dict[str, bytes], into: Path) -> None:
    for name, content in files.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


async def _render(kubectl: str, folder: Path, timeout: float) -> bytes | str:
    """The rendered YAML, or why it could not be rendered (one line)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            kubectl, "kustomize", str(folder), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return f"cannot run `{kubectl} kustomize`: {exc.strerror or exc}"
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return f"kustomize did not finish within {timeout:g} s"
    if proc.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {proc.returncode}"
        return f"kustomize failed: {message.replace(str(folder), '.')}"
    return out
