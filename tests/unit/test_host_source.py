"""The host source's pure parts: secret redaction and connector -> listener linking."""

from __future__ import annotations

from gestalt.model import ConnectionKind, ids
from gestalt.sources.host import REDACTED, Listeners, Socket, link_processes, redact_cmdline

HOST = "h1"
LOCAL_IPS = ["127.0.0.1", "10.0.0.5", "::1"]


def edges(sockets: list[Socket]) -> dict[tuple[str, str], int]:
    links = link_processes(HOST, sockets, Listeners(sockets, LOCAL_IPS))
    assert all(c.kind is ConnectionKind.NETWORK for c in links)
    return {(c.source_id, c.target_id): c.attrs["port"] for c in links}


def conn(pid: int, local: tuple[str, int], remote: tuple[str, int]) -> Socket:
    return Socket(pid=pid, local=local, remote=remote, established=True)


def listen(pid: int, ip: str, port: int) -> Socket:
    return Socket(pid=pid, local=(ip, port), listening=True)


def test_connector_to_listener_edge_with_port_and_no_reverse_edge():
    sockets = [
        listen(100, "127.0.0.1", 8080),
        conn(200, ("127.0.0.1", 51000), ("127.0.0.1", 8080)),  # the client's end
        conn(100, ("127.0.0.1", 8080), ("127.0.0.1", 51000)),  # the server's accepted end
    ]
    assert edges(sockets) == {(ids.process(HOST, 200), ids.process(HOST, 100)): 8080}


def test_wildcard_listeners_take_every_local_address():
    sockets = [
        listen(100, "0.0.0.0", 5432),
        listen(101, "::", 4222),
        conn(200, ("10.0.0.5", 40000), ("10.0.0.5", 5432)),
        conn(201, ("127.0.0.1", 40001), ("127.0.0.1", 4222)),  # IPv4 into a dual-stack ::
        conn(100, ("10.0.0.5", 5432), ("10.0.0.5", 40000)),
    ]
    assert edges(sockets) == {
        (ids.process(HOST, 200), ids.process(HOST, 100)): 5432,
        (ids.process(HOST, 201), ids.process(HOST, 101)): 4222,
    }


def test_remote_address_goes_to_an_endpoint_reference():
    # 172.17.0.2 is not local: a container's IP, resolved by the hub. A wildcard listener on
    # the same port here must not capture it.
    sockets = [listen(100, "0.0.0.0", 80), conn(200, ("172.17.0.1", 40000), ("172.17.0.2", 80))]
    assert edges(sockets) == {(ids.process(HOST, 200), ids.endpoint("172.17.0.2", 80)): 80}


def test_edges_are_deduplicated_per_pair_keeping_the_lowest_port():
    sockets = [
        listen(100, "127.0.0.1", 9000),
        listen(100, "127.0.0.1", 8000),
        *(conn(200, ("127.0.0.1", 50000 + i), ("127.0.0.1", 9000)) for i in range(3)),
        conn(200, ("127.0.0.1", 50010), ("127.0.0.1", 8000)),
    ]
    assert edges(sockets) == {(ids.process(HOST, 200), ids.process(HOST, 100)): 8000}


def test_self_connections_and_listening_sockets_add_no_edge():
    sockets = [
        listen(100, "127.0.0.1", 7000),
        conn(100, ("127.0.0.1", 45000), ("127.0.0.1", 7000)),
        conn(100, ("127.0.0.1", 7000), ("127.0.0.1", 45000)),
    ]
    assert edges(sockets) == {}


def test_listening_ports_per_process():
    listeners = Listeners([listen(1, "0.0.0.0", 80), listen(1, "::", 80), listen(1, "::1", 443),
                           listen(2, "127.0.0.1", 8080)], LOCAL_IPS)
    assert listeners.ports(1) == [80, 443]
    assert listeners.owner("127.0.0.1", 80) == 1
    assert listeners.owner("192.168.1.9", 80) is None  # not a local address


def test_redacts_secret_values_in_every_spelling():
    line = redact_cmdline([
        "server", "--password=canary1", "--api-token", "canary2", "DB_SECRET=canary3",
        "--url", "postgres://app:canary4@db:5432/app", "--port=8080", "-keyfile", "/k/canary5",
    ])
    for canary in ("canary1", "canary2", "canary3", "canary4", "canary5"):
        assert canary not in line
    assert line == (
        f"server --password={REDACTED} --api-token {REDACTED} DB_SECRET={REDACTED} "
        f"--url postgres://app:{REDACTED}@db:5432/app --port=8080 -keyfile {REDACTED}"
    )


def test_cmdline_is_truncated_after_redaction():
    line = redact_cmdline(["x" * 300, "--password=canary"])
    assert len(line) == 200
    assert line.endswith("…")
    assert "canary" not in redact_cmdline(["a" * 190, "--token=canary-secret-value"])
