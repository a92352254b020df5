"""What a server holds in memory starts with what it imports: the modules of a source
that is not configured are not loaded (the Kubernetes source's informers and translation
were 2 MB in a server without Kubernetes, imported by the Kubernetes actions)."""

from __future__ import annotations

import subprocess
import sys

# What `gestalt serve` imports before it serves (cli/serve.py).
SERVED = ("gestalt.cli, gestalt.cli.serve, gestalt.api, gestalt.api.serving, "
          "gestalt.engine.runtime, gestalt.sources.synthetic")


def test_a_server_without_kubernetes_does_not_load_the_kubernetes_source() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {SERVED}; "
         "print(sorted(m for m in sys.modules if m.startswith('gestalt.sources.kubernetes')))"],
        capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert loaded == "[]", loaded
