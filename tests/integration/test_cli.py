"""The `gestalt` command as a new user meets it: real `serve`, `check-config`, `query`
and `demo` processes, bad input of every kind, tokens, shutdown by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.cli import (
    GESTALT,
    error_lines,
    gestalt,
    serving,
    spawn,
    user_env,
    write_config,
)
from tests.support.daemons import free_port
from tests.support.nats_server import NatsServer, nats_server  # noqa: F401
from tests.support.sse import frames
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BAD_FILES = sorted(FIXTURES.glob("bad_*.yaml"))


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, *parts: str) -> str:
    lines = error_lines(result.stderr)
    assert result.returncode == code, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


# -- configuration -----------------------------------------------------------------------

@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_a_bad_config_fails_check_config_and_serve_alike(path: Path, tmp_path: Path) -> None:
    checked = gestalt("check-config", str(path))
    line = assert_one_line_error(checked, 2, str(path))
    served = gestalt("serve", "-c", str(path), "--data-dir", str(tmp_path / "data"))
    assert assert_one_line_error(served, 2, str(path)) == line
    assert "serving" not in served.stderr


def test_check_config_says_where_alerts_are_posted(tmp_path: Path) -> None:
    config = tmp_path / "gestalt.yaml"
    config.write_text("alerts:\n  receivers:\n"
                      "    - {name: am, type: alertmanager, url: 'http://127.0.0.1:9093'}\n")
    result = gestalt("check-config", str(config))
    assert result.returncode == 0, result.stderr
    assert "am (alertmanager): POST http://127.0.0.1:9093/api/v2/alerts" in result.stdout


def test_an_override_error_names_the_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml")
    result = gestalt("check-config", str(config), env=user_env(GESTALT_SERVER__PORT="#8080"))
    line = assert_one_line_error(result, 2, "environment GESTALT_SERVER__PORT", "server.port")
    assert str(config) not in line


# -- tokens ------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["#Kx9 #pQ", "12345", "yes"])
async def test_an_environment_token_is_the_token_for_serve_and_query(
    token: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "gestalt.yaml", synthetic={"entities": 5, "edges": 4})
    async with serving(config, env=user_env(GESTALT_SERVER__TOKEN=token)) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            assert (await client.get("/api/infra/topology")).status_code == 401
            auth = {"Authorization": f"Bearer {token}"}
            assert (await client.get("/api/infra/topology", headers=auth)).status_code == 200
        path = ("world.infra.topology.filter", "-p", "kinds=node", "--url", served.url)
        by_env = await asyncio.to_thread(gestalt, "query", *path,
                                         env=user_env(GESTALT_TOKEN=token))
        assert by_env.returncode == 0, by_env.stderr
        assert "node" in by_env.stdout
        by_option = await asyncio.to_thread(gestalt, "query", *path, "--token", token)
        assert by_option.returncode == 0, by_option.stderr
        without = await asyncio.to_thread(gestalt, "query", *path)
        assert_one_line_error(without, 1, "needs a token", "GESTALT_TOKEN")
        wrong = await asyncio.to_thread(gestalt, "query", *path, "--token", token + "x")
        assert_one_line_error(wrong, 1, "refused the token")


@pytest.mark.parametrize(("args", "env", "blamed"), [
    (["--token", ""], {}, "option --token"),
    ([], {"GESTALT_TOKEN": " "}, "option --token"),
    ([], {"GESTALT_SERVER__TOKEN": ""}, "environment GESTALT_SERVER__TOKEN"),
])
def test_an_empty_token_is_refused_not_taken_as_no_auth(
    args: list[str], env: dict[str, str], blamed: str, tmp_path: Path
) -> None:
    result = gestalt("serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path), *args,
                     env=user_env(**env))
    assert_one_line_error(result, 2, blamed, "server.token")


def test_an_open_bind_without_a_token_is_refused_by_serve_demo_and_check_config(
    tmp_path: Path
) -> None:
    config = write_config(tmp_path / "gestalt.yaml",
                          server={"host": "0.0.0.0", "port": free_port()})
    served = gestalt("serve", "-c", str(config))
    line = assert_one_line_error(served, 2, "refusing to listen on 0.0.0.0 without a token")
    # The demo serves the same API: it must not open it to the network either.
    demo = gestalt("demo", "-c", str(config), "--no-open", "--no-nats", "--pods", "1",
                   timeout=60)
    assert assert_one_line_error(demo, 2) == line
    checked = gestalt("check-config", str(config))
    assert assert_one_line_error(checked, 2) == line
    # With serve's token variable set, serve would start: check-config agrees.
    with_token = gestalt("check-config", str(config), env=user_env(GESTALT_TOKEN="s3cret"))
    assert with_token.returncode == 0, with_token.stderr


# -- start-up ----------------------------------------------------------------------------

def test_start_up_errors_are_one_line_and_not_wrapped(tmp_path: Path) -> None:
    # Long enough that an error wrapped at 80 columns would take two lines.
    deep = tmp_path / ("a-rather-long-directory-name-" * 3)
    deep.mkdir()
    a_file = deep / "history-is-a-file"
    a_file.write_text("")
    config = write_config(deep / "gestalt.yaml")
    cases = [
        (["--log-level", "verbose"], 2, "--log-level"),
        (["--data-dir", str(a_file)], 2, "not a directory"),
        (["--data-dir", str(a_file / "below")], 2, "cannot create it"),
        (["--data-dir", "/proc/gestalt-history"], 2, "server.data_dir"),
        (["--port", "99999"], 2, "option --port"),
    ]
    for args, code, part in cases:
        result = gestalt("serve", "-c", str(config), *args)
        assert_one_line_error(result, code, part)
        assert "serving" not in result.stderr


def test_a_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", synthetic={"entities": 5, "edges": 4})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = gestalt("serve", "-c", str(config), "--port", str(port), "--log-level", "info")
    assert_one_line_error(result, 1, f"127.0.0.1:{port}", "in use")
    assert "engine started" not in result.stderr


async def test_sigterm_with_an_sse_client_connected_stops_promptly_and_cleanly(
    tmp_path: Path
) -> None:
    config = write_config(tmp_path / "gestalt.yaml", synthetic={"entities": 20, "edges": 20,
                                                                "churn_per_second": 20})
    async with serving(config) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client, \
                client.stream("GET", "/api/infra/topology/stream") as response:
            stream = frames(response)
            first = await asyncio.wait_for(anext(stream), 10)
            assert first.event == "snapshot"
            started = time.monotonic()
            served.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(served.proc.wait, 10)
            took = time.monotonic() - started
    assert code == 0, served.stderr
    assert took < 2.5, f"took {took:.1f}s"  # uvicorn's graceful timeout is 3 s
    assert "Traceback" not in served.stderr and "ERROR" not in served.stderr, served.stderr


async def test_sigterm_to_the_demo_leaves_no_nats_processes(tmp_path: Path) -> None:
    pytest.importorskip("nats")
    port = free_port()
    proc = spawn([*GESTALT, "demo", "--no-open", "--port", str(port), "--pods", "10"],
                 stderr=subprocess.PIPE)
    tree: list[psutil.Process] = []
    try:
        def nats_tree() -> list[psutil.Process]:
            children = psutil.Process(proc.pid).children(recursive=True)
            names = [" ".join(c.cmdline()) for c in children]
            servers = [n for n in names if "nats-server" in n]
            clients = [n for n in names if "natsdemo publish" in n or "natsdemo pull" in n
                       or "natsdemo subscribe" in n]
            return children if servers and len(clients) == 7 else []

        tree = await eventually(nats_tree, timeout=60, interval=0.2,
                                what="the demo's nats-server and seven clients")
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        stderr = proc.stderr.read() if proc.stderr else ""
        assert code == 0, stderr
        assert "Traceback" not in stderr, stderr
        _, alive = psutil.wait_procs(tree, timeout=5)
        assert alive == [], [" ".join(p.cmdline()) for p in alive]
    finally:
        for leftover in [*tree, psutil.Process(proc.pid)] if proc.poll() is None else tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        proc.wait(10)


# -- query -------------------------------------------------------------------------------

def test_query_an_explicit_url_that_is_down_fails_instead_of_collecting(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", host={})
    started = time.monotonic()
    result = gestalt("query", "world.infra.topology", "-c", str(config),
                     "--url", f"http://127.0.0.1:{free_port()}")
    assert_one_line_error(result, 1, "no Gestalt server at")
    assert "collecting locally" not in result.stderr
    assert time.monotonic() - started < 10


def test_query_refuses_an_unknown_path_or_kind_before_collecting(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", host={},
                          server={"port": free_port()})  # nothing listens there
    for args, part in [(["world.infra.nonsense"], "unknown path"),
                       (["world.infra.topology.filter", "-p", "kinds=pods"], "kinds: "),
                       (["world.infra.k8s.pods", "-p", "namespace=x"], "unknown parameter")]:
        result = gestalt("query", *args, "-c", str(config))
        assert_one_line_error(result, 2, part)
        assert "collecting" not in result.stderr


def test_query_a_url_that_answers_html_is_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "api" / "paths").mkdir(parents=True)
    (site / "api" / "paths" / "world.infra.topology").write_text("<html><body>hi</body></html>")
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                            "127.0.0.1", "--directory", str(site)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        asyncio.run(eventually(up, timeout=15, what="http.server"))
        for path in ("world.infra.topology", "world.infra.k8s.pods"):  # a 200 and a 404
            result = gestalt("query", path, "--url", f"http://127.0.0.1:{port}")
            assert_one_line_error(result, 1, "is not a Gestalt server")
    finally:
        web.terminate()
        web.wait(10)


def test_local_query_says_why_kubernetes_is_empty_and_waits_for_metrics(
    tmp_path: Path
) -> None:
    config = write_config(tmp_path / "gestalt.yaml", host={"poll_interval": 1.0},
                          kubernetes={"kubeconfig": str(tmp_path / "no-such-kubeconfig")},
                          server={"port": free_port()})
    pods = gestalt("query", "world.infra.k8s.pods", "-c", str(config))
    assert pods.returncode == 0, pods.stderr
    assert "(nothing)" in pods.stdout
    assert "collecting locally" in pods.stderr  # nothing listens on the config's port
    assert any("kubernetes" in line and "kubeconfig" in line
               for line in error_lines(pods.stderr)), pods.stderr
    cpu = gestalt("query", "world.infra.metrics.cpu", "--local", "-c", str(config))
    assert cpu.returncode == 0, cpu.stderr
    header, *rows = cpu.stdout.splitlines()
    assert header.split() == ["kind", "name", "cpu_percent", "id"]
    assert rows and all(row.split()[2] != "-" for row in rows)


async def test_query_prints_a_readable_topology_and_json_on_request(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", synthetic={"entities": 12, "edges": 10,
                                                                "churn_per_second": 0})
    async with serving(config) as served:
        table = await asyncio.to_thread(gestalt, "query", "world.infra.topology",
                                        "--url", served.url)
        as_json = await asyncio.to_thread(gestalt, "query", "world.infra.topology", "--json",
                                          "--url", served.url)
    assert table.returncode == 0, table.stderr
    assert not table.stdout.lstrip().startswith("{")
    lines = table.stdout.splitlines()
    assert any(line.split() == ["kind", "name", "namespace", "status", "health", "id"]
               for line in lines)
    topology = json.loads(as_json.stdout)
    count = len(topology["entities"])
    assert count > 0
    assert any(line.startswith(f"{count} entities, ") for line in lines), table.stdout


async def test_unknown_filter_values_are_refused_with_what_is_valid(tmp_path: Path) -> None:
    config = write_config(tmp_path / "gestalt.yaml", synthetic={"entities": 5, "edges": 4})
    async with serving(config) as served:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
            kinds = await client.get("/api/infra/topology", params={"kinds": "nonsense"})
            assert kinds.status_code == 400 and "pod" in kinds.text and "nonsense" in kinds.text
            sources = await client.get("/api/infra/topology", params={"sources": "dockr"})
            assert sources.status_code == 400 and "docker" in sources.text
            fine = await client.get("/api/infra/topology", params={"kinds": "pod,node",
                                                                    "sources": "synthetic"})
            assert fine.status_code == 200 and fine.json()["entities"]
            events = await client.get("/api/infra/events/stream", params={"kinds": "pods"})
            assert events.status_code == 400
        result = await asyncio.to_thread(gestalt, "query", "world.infra.topology.filter",
                                         "-p", "kinds=nonsense", "--url", served.url)
    assert_one_line_error(result, 2, "unknown kind(s) nonsense", "pod")


# -- what sources report is data, never markup ---------------------------------------------

LISTENER = """
import ctypes, socket, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME: the process name
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname())
time.sleep(600)
"""


async def test_names_from_sources_are_printed_as_they_are(
    tmp_path: Path, nats_server: NatsServer  # noqa: F811
) -> None:
    subject, process = "kgents.[/oops]", "[bold]srv"
    natsdemo = [sys.executable, "-m", "gestalt.sim.natsdemo"]
    children = [
        spawn([sys.executable, "-c", LISTENER, process]),
        spawn([*natsdemo, "subscribe", "--subject", subject, "--url", nats_server.url]),
        spawn([*natsdemo, "publish", "--subject", subject, "--rate", "5",
               "--url", nats_server.url]),
    ]
    config = write_config(tmp_path / "gestalt.yaml", host={"poll_interval": 1.0},
                          nats={"url": nats_server.url, "monitor_url": nats_server.monitor_url,
                                "poll_interval": 0.5})
    try:
        async with serving(config) as served:
            async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
                async def both_seen() -> bool:
                    names = {e["name"] for e in
                             (await client.get("/api/infra/topology")).json()["entities"]}
                    return subject in names and process in names

                await eventually(both_seen, timeout=30, what="the subject and the process")
            subjects = await asyncio.to_thread(gestalt, "query", "world.infra.nats.subjects",
                                               "--url", served.url)
            processes = await asyncio.to_thread(gestalt, "query", "world.infra.topology.filter",
                                                "-p", "kinds=process", "--url", served.url)
            log = served.stderr
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(10)
    assert subjects.returncode == 0 and "Traceback" not in subjects.stderr, subjects.stderr
    assert any(line.split()[0] == subject for line in subjects.stdout.splitlines()[1:])
    assert processes.returncode == 0, processes.stderr
    assert any(line.split()[:2] == ["process", process]
               for line in processes.stdout.splitlines()), processes.stdout
    # Every poll of the NATS monitor is an HTTP request: none of them is logged at info.
    assert "HTTP Request" not in log, log


def test_usage_errors_are_one_line_too() -> None:
    """A mistyped option or command is a start-up error like any other: one line naming
    what is wrong and where help is, not a boxed panel wrapped at 80 columns."""
    cases = [
        (["serve", "--port", "abc"], "'--port'", "gestalt serve --help"),
        (["serve", "--no-such-option"], "--no-such-option", "gestalt serve --help"),
        (["no-such-command"], "no-such-command", "gestalt --help"),
    ]
    for args, *parts in cases:
        assert_one_line_error(gestalt(*args), 2, *parts)
    assert gestalt("--help").returncode == 0
    # A docstring's line breaks do not show mid-sentence: one paragraph per command.
    wide = gestalt("--help", env=user_env(COLUMNS="200"))
    assert "publish its changes to NATS JetStream for a hub; no web server." in wide.stdout
    assert gestalt().returncode == 0  # no arguments: the help, as a question answered
