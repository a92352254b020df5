"""PostgresSource: each configured database as a `database` entity with its connection
pool, size, throughput and query patterns, and its client connections as edges.

One long-lived, read-only asyncpg connection per DSN (statement timeout, read-only
transactions, `application_name=gestalt`), polled every `poll_interval`. The role needs
`pg_monitor` to see other sessions' addresses and `pg_stat_statements`.

- pool %: client backends in the whole cluster over `max_connections` (the limit is
  per cluster), with this database's connections by state beside it;
- transactions/s and the cache hit ratio from `pg_stat_database` deltas between polls;
- top query patterns from `pg_stat_statements`, only plannable statements (which the
  extension normalises, literals replaced by $n) and never one with a quote left in it:
  utility statements keep their literal text, passwords included;
- client connections: `endpoint:<client_addr>:<client_port>` -> database, so the hub
  attaches them to the process, container or pod that owns that socket.

Gestalt's own polling is left out of every figure, or a quiet database would show a
steady trickle of transactions and Gestalt's queries at its top. Its sessions are known
by `application_name` (any Gestalt's) and backend pid (this one's); its statements by the
`/* gestalt */` comment that starts each, which `pg_stat_statements` keeps in the text;
its transactions by count: each poll is one read-only transaction whose statistics it
flushes before the next poll reads them (`pg_stat_force_next_flush`, PostgreSQL 15+), so
every delta between two polls holds exactly one of ours.

DSN passwords never reach a log, a status or an entity: only `redact(dsn)` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg

from gestalt.model import (
    Connection,
    ConnectionKind,
    Entity,
    EntityKind,
    EntityStatus,
    SourceState,
    ids,
)
from gestalt.model.config import PostgresCollector
from gestalt.sources.base import PermanentSourceError, Sink, SourceError
from gestalt.sources.polling import poll_every

log = logging.getLogger(__name__)

APPLICATION_NAME = "gestalt"
# Starts every statement the source runs: pg_stat_statements keeps it in the query text.
_MARK = "/* gestalt */"
# Sessions that are not Gestalt's, in pg_stat_activity.
_OTHERS = f"pid <> pg_backend_pid() AND application_name <> '{APPLICATION_NAME}'"

_SERVER = f"""{_MARK}
SELECT current_database() AS database,
       current_setting('max_connections')::int AS max_connections,
       current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       pg_database_size(current_database()) AS size_bytes,
       (SELECT count(*) FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND {_OTHERS}) AS cluster_connections,
       (SELECT count(*) > 0 FROM pg_extension
         WHERE extname = 'pg_stat_statements') AS has_statements
"""

# Our transaction's statistics reach pg_stat_database when this session next goes idle,
# before the next poll reads them: one of ours in every delta, never 0 or 2.
_FLUSH = f"{_MARK} SELECT pg_stat_force_next_flush()"
_FLUSH_SINCE = 150000  # the server_version_num that has it
_OWN_TRANSACTIONS_PER_POLL = 1

_DATABASE = f"""{_MARK}
SELECT xact_commit + xact_rollback AS transactions, blks_hit, blks_read
  FROM pg_stat_database WHERE datname = current_database()
"""

# clock_timestamp(), not now(): now() is when our poll's transaction began, and a query
# that started after that would be -0.003 s old.
_SESSIONS = f"""{_MARK}
SELECT state, client_addr::text AS client_addr, client_port, usename, application_name,
       extract(epoch FROM clock_timestamp() - query_start) AS query_age,
       extract(epoch FROM clock_timestamp() - xact_start) AS xact_age
  FROM pg_stat_activity
 WHERE datname = current_database() AND backend_type = 'client backend' AND {_OTHERS}
"""

# Plannable statements only, after any leading comments (sqlcommenter, marginalia); ours
# (marked) never.
_STATEMENTS = f"""{_MARK}
SELECT query, calls, total_exec_time, mean_exec_time, rows
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query ~* '^\\s*(/\\*.*?\\*/\\s*)*(select|insert|update|delete|with|merge)\\s'
   AND position('''' in query) = 0
   AND left(query, {len(_MARK)}) <> '{_MARK}'
 ORDER BY total_exec_time DESC
 LIMIT $1
"""

_MAX_QUERY_CHARS = 200


def redact(dsn: str) -> str:
    """The DSN with its password (in the userinfo or a `password=` parameter) masked."""
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = "&".join(
        f"{k}=***" if k.lower() == "password" else f"{k}={v}"
        for k, values in parse_qs(parts.query, keep_blank_values=True).items() for v in values
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _address(dsn: str) -> tuple[str, str]:
    """(host:port, database name) as the DSN names them, for the entity id."""
    parts = urlsplit(dsn)
    params = parse_qs(parts.query)
    host = parts.hostname or (params.get("host") or ["localhost"])[0]
    port = parts.port or int((params.get("port") or ["5432"])[0])
    database = parts.path.lstrip("/") or (params.get("dbname") or [parts.username or ""])[0]
    return f"{host}:{port}", database


@dataclass(slots=True)
class _Previous:
    at: float
    transactions: int
    blks_hit: int
    blks_read: int


class _Database:
    """One DSN: its connection and what the previous poll saw (for rates)."""

    def __init__(self, dsn: str, config: PostgresCollector) -> None:
        self.dsn = dsn
        self.safe_dsn = redact(dsn)
        self.address, self.name = _address(dsn)
        self.entity_id = ids.database("postgresql", self.address, self.name)
        self._config = config
        self._conn: asyncpg.Connection | None = None
        self._previous: _Previous | None = None

    def _scrub(self, text: str) -> str:
        password = urlsplit(self.dsn).password
        return text.replace(password, "***") if password else text

    async def _connect(self) -> asyncpg.Connection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._previous = None  # a delta spans polls of one session: one of ours in each
        try:
            self._conn = await asyncpg.connect(
                self.dsn,
                timeout=self._config.connect_timeout,
                server_settings={
                    "application_name": APPLICATION_NAME,
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(int(self._config.connect_timeout * 1000)),
                },
            )
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InvalidCatalogNameError) as exc:
            raise PermanentSourceError(
                f"{self.safe_dsn}: {self._scrub(str(exc))}") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise SourceError(f"{self.safe_dsn}: {self._scrub(str(exc)) or type(exc).__name__}"
                              ) from None
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    async def poll(self) -> tuple[Entity, list[Connection]]:
        conn = await self._connect()
        try:
            async with conn.transaction(readonly=True):  # one transaction per poll
                server = await conn.fetchrow(_SERVER)
                if server["version_num"] >= _FLUSH_SINCE:
                    await conn.execute(_FLUSH)
                stats = await conn.fetchrow(_DATABASE)
                sessions = await conn.fetch(_SESSIONS)
                statements = (await conn.fetch(_STATEMENTS, self._config.top_queries)
                              if server["has_statements"] else [])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            await self.close()
            raise SourceError(f"{self.safe_dsn}: {self._scrub(str(exc))}") from None
        now = time.time()
        return self._entity(server, stats, sessions, statements, now), self._edges(sessions)

    def _entity(self, server: Any, stats: Any, sessions: list[Any], statements: list[Any],
                now: float) -> Entity:
        by_state: dict[str, int] = {}
        for row in sessions:
            state = row["state"] or "unknown"
            by_state[state] = by_state.get(state, 0) + 1
        active_ages = [r["query_age"] for r in sessions
                       if r["state"] == "active" and r["query_age"] is not None]
        xact_ages = [r["xact_age"] for r in sessions if r["xact_age"] is not None]
        max_connections = server["max_connections"]
        # Counts and bytes stay whole numbers (1, not 1.0).
        metrics: dict[str, float] = {
            "pool_percent": 100.0 * server["cluster_connections"] / max_connections,
            "connections": len(sessions),
            "active_connections": by_state.get("active", 0),
            "idle_connections": by_state.get("idle", 0),
            "idle_in_transaction_connections": (
                by_state.get("idle in transaction", 0)
                + by_state.get("idle in transaction (aborted)", 0)),
            "cluster_connections": server["cluster_connections"],
            "storage_bytes": server["size_bytes"],
            "longest_query_seconds": float(max(active_ages, default=0.0)),
            "longest_transaction_seconds": float(max(xact_ages, default=0.0)),
        }
        metrics.update(self._rates(stats, now))
        attrs: dict[str, str | int | float | bool | None] = {
            "db.system": "postgresql",
            "address": self.address,
            "version": server["version"],
            "max_connections": max_connections,
            "pg_stat_statements": bool(server["has_statements"]),
        }
        for state, count in sorted(by_state.items()):
            attrs[f"connections.{state}"] = count
        for rank, row in enumerate(statements, 1):
            attrs[f"query_{rank}"] = " ".join(row["query"].split())[:_MAX_QUERY_CHARS]
            attrs[f"query_{rank}_calls"] = row["calls"]
            attrs[f"query_{rank}_mean_ms"] = round(row["mean_exec_time"], 3)
            attrs[f"query_{rank}_total_ms"] = round(row["total_exec_time"], 3)
        return Entity(
            id=self.entity_id,
            kind=EntityKind.DATABASE,
            name=self.name,
            status=EntityStatus.RUNNING,
            custom_metrics=metrics,
            attrs=attrs,
            updated_at=now,
        )

    def _rates(self, stats: Any, now: float) -> dict[str, float]:
        current = _Previous(now, stats["transactions"], stats["blks_hit"], stats["blks_read"])
        previous, self._previous = self._previous, current
        hit, read = current.blks_hit, current.blks_read
        rates: dict[str, float] = {}
        if previous is not None and now > previous.at:
            theirs = current.transactions - previous.transactions - _OWN_TRANSACTIONS_PER_POLL
            rates["transactions_per_sec"] = max(theirs, 0) / (now - previous.at)
            if hit - previous.blks_hit + read - previous.blks_read > 0:
                hit, read = hit - previous.blks_hit, read - previous.blks_read
        if hit + read > 0:  # since the last poll, or since the statistics were reset
            rates["cache_hit_ratio"] = hit / (hit + read)
        return rates

    def _edges(self, sessions: list[Any]) -> list[Connection]:
        edges: dict[str, Connection] = {}
        for row in sessions:
            if row["client_addr"] is None or row["client_port"] is None or row["client_port"] < 0:
                continue  # a Unix-socket client: no address to resolve
            address = row["client_addr"].split("/", 1)[0]  # inet text may carry a /32
            edge = Connection(
                source_id=ids.endpoint(address, row["client_port"]),
                target_id=self.entity_id,
                kind=ConnectionKind.NETWORK,
                attrs={"protocol": "postgresql", "user": row["usename"],
                       "application": row["application_name"] or None,
                       "state": row["state"]},
            )
            edges[edge.id] = edge
        return list(edges.values())


class PostgresSource:
    name = "postgres"

    def __init__(self, config: PostgresCollector) -> None:
        self._config = config
        self._databases = [_Database(dsn, config) for dsn in config.dsns]

    async def run(self, sink: Sink) -> None:
        if not self._databases:
            raise PermanentSourceError("collectors.postgres.dsns is empty")
        try:
            await poll_every(self._config.poll_interval, lambda: self._poll_all(sink))
        finally:
            for database in self._databases:
                await database.close()

    async def _poll_all(self, sink: Sink) -> None:
        results = await asyncio.gather(*(d.poll() for d in self._databases),
                                       return_exceptions=True)
        entities: list[Entity] = []
        connections: list[Connection] = []
        failures: list[str] = []
        for database, result in zip(self._databases, results, strict=True):
            if isinstance(result, PermanentSourceError) and len(self._databases) == 1:
                raise result
            if isinstance(result, BaseException):
                if not isinstance(result, SourceError):
                    raise result
                failures.append(str(result))
                log.warning("postgres: %s", result)
                # Still shown, as unknown: a database we cannot reach is not a deleted one.
                entities.append(Entity(
                    id=database.entity_id, kind=EntityKind.DATABASE, name=database.name,
                    status=EntityStatus.UNKNOWN,
                    attrs={"db.system": "postgresql", "address": database.address,
                           "error": str(result)[:300]}))
                continue
            entity, edges = result
            entities.append(entity)
            connections.extend(edges)
        if failures and len(failures) == len(self._databases):
            raise SourceError("; ".join(failures))
        sink.snapshot(entities, connections, observed_at=time.time())
        if failures:
            sink.status(SourceState.DEGRADED, "; ".join(failures))
        else:
            sink.status(SourceState.OK, f"{len(self._databases)} database(s)")
