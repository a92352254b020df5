"""The `gestalt` command keeps libraries' unused parts out of memory (gestalt/cli/lean.py):
httpx's own command-line client and pydantic's v1 layer are never imported, and what does
use httpx and FastAPI still works: the whole app is built, its routes answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
import gestalt.cli  # the entry point: `gestalt` and `python -m gestalt.cli`
import httpx
from fastapi.testclient import TestClient
from gestalt.api import create_app
from gestalt.engine.runtime import Engine
from gestalt.model.config import Config, ServerConfig

app = create_app(Engine(Config(server=ServerConfig(data_dir=sys.argv[1])), sources=[]))
with TestClient(app, base_url="http://127.0.0.1:8765") as client:
    status = client.get("/api/infra/topology").status_code
loaded = [name for name in ("httpx._main", "pygments", "pydantic.v1")
          if sys.modules.get(name) is not None]
print(json.dumps({"loaded": loaded, "status": status, "routes": len(app.routes),
                  "client": hasattr(httpx, "AsyncClient")}))
"""


def test_the_cli_leaves_httpxs_client_and_pydantic_v1_out_and_the_app_still_works(
        tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["loaded"] == []
    assert found["status"] == 200
    assert found["routes"] > 20 and found["client"]
