"""Reading manifests: the files of one Git commit (with dulwich, so no `git` binary is
needed and the working tree, with whatever is uncommitted in it, is never read), or the
files of a plain directory.

Every file is read (a kustomization may generate a ConfigMap from any file), each capped in
size and in number; a manifest (`.yaml`, `.yml`, `.json`) over the cap is a per-file
error, any other file over it is left out quietly.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.object_store import iter_tree_contents
from dulwich.objects import Blob, Commit, Tag
from dulwich.repo import Repo

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 4 << 20
MAX_FILES = 5000


class RepositoryError(Exception):
    """The repository or its ref cannot be read at all (the whole repository is skipped)."""


@dataclass
class Checkout:
    revision: str  # a commit id, or "" for a plain directory
    subpath: str = ""  # what `files` are relative to, inside the repository
    files: dict[str, bytes] = field(default_factory=dict)  # path under `subpath` -> content
    errors: dict[str, str] = field(default_factory=dict)  # path -> why it was not read


def read(path: str, ref: str, subpath: str) -> Checkout:
    """The manifests under `subpath` of the repository or directory at `path`."""
    root = Path(path).expanduser()
    if not root.exists():
        raise RepositoryError(f"{path}: no such repository or directory")
    try:
        repo = Repo(str(root))
    except NotGitRepository:
        return _directory(root, subpath)
    with repo:
        return _commit(repo, ref, subpath)


def _commit(repo: Repo, ref: str, subpath: str) -> Checkout:
    commit = _resolve(repo, ref)
    checkout = Checkout(revision=commit.id.decode(), subpath=subpath.strip("/"))
    prefix = subpath.strip("/").encode()
    for entry in iter_tree_contents(repo.object_store, commit.tree):
        name = entry.path
        if name is None or entry.sha is None or entry.mode is None:
            continue
        if prefix and not (name == prefix or name.startswith(prefix + b"/")):
            continue
        relative = name[len(prefix):].lstrip(b"/").decode(errors="replace")
        if not _wanted(relative) or not stat.S_ISREG(entry.mode):
            continue
        if len(checkout.files) >= MAX_FILES:
            checkout.errors[relative] = f"not read: more than {MAX_FILES} manifest files"
            continue
        blob = repo.object_store[entry.sha]
        if not isinstance(blob, Blob):
            continue
        if blob.raw_length() > MAX_FILE_BYTES:
            _too_large(checkout, relative)
            continue
        checkout.files[relative] = blob.as_raw_string()
    if prefix and not checkout.files and not checkout.errors:  # a typo in `subpath`
        raise RepositoryError(f"no manifests under {subpath!r} at {ref}")
    return checkout


def _resolve(repo: Repo, ref: str) -> Commit:
    """A branch, tag, remote branch, HEAD or (abbreviated) commit id -> its commit."""
    wanted = ref.encode()
    candidates = [wanted, b"refs/heads/" + wanted, b"refs/tags/" + wanted,
                  b"refs/remotes/origin/" + wanted]
    refs = {bytes(name): bytes(sha) for name, sha in repo.get_refs().items()}
    for name in candidates:
        if name in refs:
            return _peel(repo, refs[name], ref)
    if 4 <= len(wanted) <= 40 and all(c in b"0123456789abcdef" for c in wanted.lower()):
        matches = [sha for sha in repo.object_store if sha.startswith(wanted.lower())]
        if len(matches) == 1:
            return _peel(repo, matches[0], ref)
    raise RepositoryError(f"ref {ref!r} not found (branches: "
                          f"{', '.join(_branches(refs)) or 'none'})")


def _peel(repo: Repo, sha: bytes, ref: str) -> Commit:
    obj = repo[sha]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise RepositoryError(f"ref {ref!r} names a {obj.type_name.decode()}, not a commit")
    return obj


def _branches(refs: dict[bytes, bytes]) -> list[str]:
    return sorted(n.removeprefix(b"refs/heads/").decode() for n in refs
                  if n.startswith(b"refs/heads/"))


def _directory(root: Path, subpath: str) -> Checkout:
    base = root / subpath.strip("/") if subpath.strip("/") else root
    if not base.is_dir():
        raise RepositoryError(f"{base}: not a directory")
    checkout = Checkout(revision="", subpath=subpath.strip("/"))
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            file = Path(folder) / name
            relative = file.relative_to(base).as_posix()
            if not _wanted(relative) or not file.is_file():
                continue
            if len(checkout.files) >= MAX_FILES:
                checkout.errors[relative] = f"not read: more than {MAX_FILES} manifest files"
                continue
            try:
                if file.stat().st_size > MAX_FILE_BYTES:
                    _too_large(checkout, relative)
                    continue
                checkout.files[relative] = file.read_bytes()
            except OSError as exc:
                checkout.errors[relative] = f"not read: {exc.strerror or exc}"
    return checkout


def _wanted(relative: str) -> bool:
    return bool(relative) and not any(part.startswith(".") for part in relative.split("/"))


def is_manifest(relative: str) -> bool:
    return relative.lower().endswith(MANIFEST_SUFFIXES)


def _too_large(checkout: Checkout, relative: str) -> None:
    if is_manifest(relative):
        checkout.errors[relative] = f"not read: larger than {MAX_FILE_BYTES} bytes"
