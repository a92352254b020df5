"""PostgresSource against a real throwaway PostgreSQL cluster with real pgbench traffic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg
import psutil
import pytest

from gestalt.model import ConnectionKind, EntityKind, SourceState, ids
from gestalt.model.config import PostgresCollector
from gestalt.sources.base import PermanentSourceError
from gestalt.sources.postgres import PostgresSource, redact
from tests.support.postgres import (  # noqa: F401  (fixture)
    BENCH_PASSWORD,
    BENCH_USER,
    DATABASE,
    MAX_CONNECTIONS,
    MONITOR_PASSWORD,
    PgCluster,
    postgres_cluster,
)
from tests.support.sinks import RecordingSink

pytestmark = pytest.mark.integration

CANARY_LITERAL = "pg-canary-literal-991"
CLIENTS = 20


@contextlib.asynccontextmanager
async def running(source: PostgresSource) -> AsyncIterator[RecordingSink]:
    sink = RecordingSink()
    task = asyncio.create_task(source.run(sink))
    try:
        yield sink
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def pgbench(cluster: PgCluster, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        *cluster.pgbench(*args), env=cluster.pgbench_env(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_pgbench_connections_pool_and_client_edges(
    postgres_cluster: PgCluster, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    caplog.set_level(logging.DEBUG)
    cluster = postgres_cluster
    async with pgbench(cluster, "-i", "-s", "1", "-q") as init:
        _, err = await asyncio.wait_for(init.communicate(), 120)
        assert init.returncode == 0, err.decode()[-2000:]
    # A utility statement with a literal: pg_stat_statements keeps its text verbatim.
    cluster.sql(f"CREATE ROLE canary_role PASSWORD '{CANARY_LITERAL}'", database=DATABASE)

    db_id = ids.database("postgresql", f"127.0.0.1:{cluster.port}", DATABASE)
    source = PostgresSource(PostgresCollector(enabled=True, dsns=[cluster.dsn()],
                                              poll_interval=0.5))
    async with running(source) as sink, pgbench(
        cluster, "-c", str(CLIENTS), "-j", "2", "-T", "60", "-n") as bench:
        db = await sink.wait_for(
            lambda: (e := sink.entities.get(db_id))
            and e.custom_metrics.get("connections") == CLIENTS and e,
            timeout=30, what=f"{CLIENTS} pgbench connections on {db_id}")
        # The pgbench process's own sockets to the server, as the kernel lists them.
        sockets = {
            ids.endpoint(c.laddr.ip, c.laddr.port)
            for c in psutil.Process(bench.pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == cluster.port
        }
        assert len(sockets) == CLIENTS
        edges = await sink.wait_for(
            lambda: (found := {c.source_id for c in sink.connections.values()
                               if c.target_id == db_id}) >= sockets and found,
            timeout=15, what="an edge from each pgbench socket to the database")
        assert edges == sockets  # our own polling connection is not a client edge
        transactions = await sink.wait_for(
            lambda: sink.entities[db_id].custom_metrics.get("transactions_per_sec", 0) > 0
            and sink.entities[db_id], timeout=15, what="a transaction rate")

    assert db.kind == EntityKind.DATABASE and db.name == DATABASE
    metrics = db.custom_metrics
    assert db.attrs["max_connections"] == MAX_CONNECTIONS
    # Cluster-wide client backends (pgbench's; never ours) against max_connections.
    assert metrics["cluster_connections"] == CLIENTS
    assert metrics["pool_percent"] == pytest.approx(
        100 * metrics["cluster_connections"] / MAX_CONNECTIONS)
    by_state = sum(v for k, v in db.attrs.items() if k.startswith("connections."))
    assert by_state == CLIENTS
    assert metrics["active_connections"] + metrics["idle_connections"] \
        + metrics["idle_in_transaction_connections"] == CLIENTS
    assert metrics["storage_bytes"] > 1_000_000  # pgbench's tables at scale 1
    assert metrics["longest_query_seconds"] >= 0 and metrics["longest_transaction_seconds"] >= 0
    assert 0 < transactions.custom_metrics["cache_hit_ratio"] <= 1
    assert all(c.kind == ConnectionKind.NETWORK for c in sink.connections.values())

    queries = [v for k, v in transactions.attrs.items()
               if k.startswith("query_") and k.count("_") == 1]
    assert any("pgbench_accounts" in q and "$" in q for q in queries), queries
    # Never a literal, never a password: not in entities, statuses or logs.
    everything = repr(sink.entities) + repr(sink.connections) + repr(sink.statuses) + caplog.text
    assert CANARY_LITERAL not in everything
    assert MONITOR_PASSWORD not in everything
    assert sink.state == SourceState.OK


async def test_wrong_password_is_permanent_and_never_shown(
    postgres_cluster: PgCluster  # noqa: F811
) -> None:
    dsn = postgres_cluster.dsn(password="wrong-" + MONITOR_PASSWORD)
    source = PostgresSource(PostgresCollector(enabled=True, dsns=[dsn], poll_interval=0.5))
    with pytest.raises(PermanentSourceError) as failure:
        await asyncio.wait_for(source.run(RecordingSink()), 30)
    assert "password authentication failed" in str(failure.value)
    assert MONITOR_PASSWORD not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__context__ is None \
        or MONITOR_PASSWORD not in repr(failure.value.__context__)


def test_redact_masks_passwords() -> None:
    assert redact("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db?user=u&password=x") == \
        "postgresql://h/db?user=u&password=***"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


async def test_gestalts_own_polling_is_left_out(postgres_cluster: PgCluster) -> None:  # noqa: F811
    """A database whose one client is idle shows 0 transactions/s, one connection, and
    only that client's queries: none of Gestalt's own polling (its transactions, its
    session, its statements)."""
    cluster = postgres_cluster
    name = f"quiet_{uuid.uuid4().hex[:8]}"
    cluster.sql(f"CREATE DATABASE {name} OWNER {BENCH_USER}")
    cluster.sql("CREATE EXTENSION pg_stat_statements",
                f"CREATE TABLE items (id int); GRANT SELECT ON items TO {BENCH_USER}",
                database=name)
    app = await asyncpg.connect(cluster.dsn(BENCH_USER, BENCH_PASSWORD, name),
                                server_settings={"application_name": "shop-app"})
    try:
        for i in range(20):
            await app.fetchval("SELECT id FROM items WHERE id = $1", i)
        db_id = ids.database("postgresql", f"127.0.0.1:{cluster.port}", name)
        source = PostgresSource(PostgresCollector(
            enabled=True, dsns=[cluster.dsn(database=name)], poll_interval=0.3))
        rates: list[tuple[int, float | None]] = []

        def quiet() -> bool:
            entity = sink.entities.get(db_id)
            if entity is not None and (not rates or rates[-1][0] != sink.snapshots):
                rates.append((sink.snapshots, entity.custom_metrics.get("transactions_per_sec")))
            return len(rates) >= 6 and all(rate == 0 for _, rate in rates[-5:])

        async with running(source) as sink:
            # The app's statistics reach the view within ~10 s of it going idle; ours never.
            await sink.wait_for(quiet, timeout=40,
                                what=f"0 transactions/s over 5 polls of an idle database: {rates}")
            db = sink.entities[db_id]
    finally:
        await app.close()
    metrics = db.custom_metrics
    assert metrics["connections"] == 1 and metrics["cluster_connections"] == 1, metrics
    assert type(metrics["connections"]) is int  # a count: shown as 1, not 1.0
    assert metrics["pool_percent"] == pytest.approx(100 / MAX_CONNECTIONS)
    assert db.attrs["connections.idle"] == 1
    queries = {k: v for k, v in db.attrs.items() if k.startswith("query_") and k.count("_") == 1}
    assert list(queries.values()) == ["SELECT id FROM items WHERE id = $1"], queries
    assert not any("gestalt" in str(c.attrs.get("application")) for c in sink.connections.values())
