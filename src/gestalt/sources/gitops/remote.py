"""Remote repositories (`url:`): fetched with dulwich into a bare mirror of their own, so
no `git` binary is needed and nothing of a working tree is involved. Each poll fetches what
changed (the pack protocol sends only new objects) and sets the mirror's branches and tags
to the remote's; repository.py then reads the followed ref's commit from the mirror.

No credentials are configured here on purpose: a URL with a token in it would be a secret
in the configuration. Public repositories, or a mirror kept by something that holds the
credentials (`path:`), are the two ways.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dulwich.client import get_transport_and_path
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.refs import HEADREF
from dulwich.repo import Repo

from gestalt.sources.gitops.repository import RepositoryError

KEPT = (b"refs/heads/", b"refs/tags/", b"HEAD")


def mirror_path(cache_dir: str, url: str) -> Path:
    return Path(cache_dir).expanduser() / hashlib.sha256(url.encode()).hexdigest()[:16]


def fetch(url: str, mirror: Path) -> Path:
    """Bring the mirror of `url` up to date; returns its path. RepositoryError when the
    remote cannot be reached or is not a Git repository."""
    mirror.mkdir(parents=True, exist_ok=True)
    repo = Repo(str(mirror)) if (mirror / "objects").is_dir() else Repo.init_bare(str(mirror))
    with repo:
        try:
            client, remote_path = get_transport_and_path(url)
            result = client.fetch(remote_path, repo)
        except (OSError, GitProtocolError, HangupException, NotGitRepository) as exc:
            raise RepositoryError(f"{safe(url)}: cannot fetch: {exc}") from exc
        for name, sha in result.refs.items():
            if sha is not None and name.startswith(KEPT) and not name.endswith(b"^{}"):
                if name == b"HEAD":
                    continue  # the remote's default branch: followed as refs/heads/<it>
                repo.refs[name] = sha
        head = (result.symrefs or {}).get(HEADREF)
        if head:
            repo.refs.set_symbolic_ref(HEADREF, head)
    return mirror


def safe(url: str) -> str:
    """The URL without any user:password part, for messages."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
