"""`gestalt serve` with `server.tls_cert`/`tls_key`: the API, the UI's stream and
`gestalt query` over TLS; a bad certificate is one line at start, before anything runs."""

from __future__ import annotations

import signal
import ssl
from pathlib import Path

import httpx
import pytest

from gestalt.sim.kubesim.tls import self_signed
from tests.support.cli import GESTALT, error_lines, gestalt, spawn, user_env, write_config
from tests.support.daemons import free_port
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = self_signed("127.0.0.1")
    (tmp_path / "tls.crt").write_bytes(cert)
    (tmp_path / "tls.key").write_bytes(key)
    return tmp_path / "tls.crt", tmp_path / "tls.key"


async def test_the_api_serves_tls_and_query_uses_it(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    port = free_port()
    config = write_config(tmp_path / "gestalt.yaml", server={
        "port": port, "tls_cert": str(cert), "tls_key": str(key), "token": "t0ken"},
        synthetic={"entities": 20, "edges": 10, "churn_per_second": 0})
    proc = spawn([*GESTALT, "serve", "-c", str(config)], stderr=tmp_path / "serve.err")
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=trusted,
                                     timeout=5) as client:
            async def ready() -> bool:
                assert proc.poll() is None, (tmp_path / "serve.err").read_text()
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(ready, timeout=30, what="gestalt serve over TLS")
            topology = await client.get("/api/infra/topology",
                                        headers={"Authorization": "Bearer t0ken"})
            assert topology.status_code == 200 and len(topology.json()["entities"]) >= 20
        assert f"https://127.0.0.1:{port}/" in (tmp_path / "serve.err").read_text()
        async with httpx.AsyncClient(timeout=5) as plain:
            with pytest.raises(httpx.HTTPError):  # the port speaks TLS only
                await plain.get(f"http://127.0.0.1:{port}/healthz")
        # `gestalt query` finds the server from the same config, over https, trusting the
        # configured (self-signed) certificate.
        answer = gestalt("query", "world.infra.topology", "--json", "-c", str(config),
                         env=user_env(GESTALT_TOKEN="t0ken"))
        assert answer.returncode == 0, answer.stderr
        assert "collecting locally" not in answer.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_a_certificate_that_does_not_load_is_one_line(tmp_path: Path) -> None:
    _cert, key = certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _other_key = certificate(tmp_path / "other")
    for tls_cert, tls_key, words in (
            (tmp_path / "nope.crt", key, "nope.crt: no such file"),
            (other_cert, key, "cannot load them")):  # a key that is not the certificate's
        config = write_config(tmp_path / "gestalt.yaml", server={
            "port": free_port(), "tls_cert": str(tls_cert), "tls_key": str(tls_key)})
        proc = gestalt("serve", "-c", str(config))
        assert proc.returncode == 2, proc.stderr
        lines = error_lines(proc.stderr)
        assert len(lines) == 1 and words in lines[0], proc.stderr
