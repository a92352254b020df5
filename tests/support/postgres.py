"""A throwaway PostgreSQL cluster (Debian's `postgresql`) in a temp dir on a free loopback
port, for the database source's tests and benchmarks.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user
(`runuser`). Local (socket) connections are trusted for setting up; TCP needs a password,
so the source under test connects as a real monitoring role with a real password.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemons import free_port
from tests.support.services import require_service

MONITOR_USER, MONITOR_PASSWORD = "gestalt", "canary-Pg-s3cret-7731"
BENCH_USER, BENCH_PASSWORD = "bench", "bench-pw-1234"
DATABASE = "shop"
MAX_CONNECTIONS = 60


def postgres_bin() -> Path | None:
    """The newest installed server's bin dir (/usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PgCluster:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="gestalt-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "run"
        self.as_root = os.geteuid() == 0

    def dsn(self, user: str = MONITOR_USER, password: str = MONITOR_PASSWORD,
            database: str = DATABASE) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else list(argv)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:4])}... failed: {proc.stderr[-2000:]}")

    def start(self) -> None:
        self.sockets.mkdir()
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        self._run(*self._as_owner(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"))
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockets}'",
            "max_connections": str(MAX_CONNECTIONS),
            "shared_preload_libraries": "'pg_stat_statements'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        self._run(*self._as_owner(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "start"))
        self.sql(
            f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{MONITOR_PASSWORD}'",
            f"GRANT pg_monitor TO {MONITOR_USER}",
            f"CREATE ROLE {BENCH_USER} LOGIN PASSWORD '{BENCH_PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {BENCH_USER}",
        )
        self.sql("CREATE EXTENSION pg_stat_statements", database=DATABASE)

    def sql(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser over the local socket."""
        for statement in statements:
            self._run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.sockets),
                      "-p", str(self.port), "-U", "postgres", "-d", database, "-c", statement)

    def pgbench(self, *args: str) -> list[str]:
        """pgbench's command line as the bench role over TCP (the password via env)."""
        return [str(self.bin / "pgbench"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", BENCH_USER, *args, DATABASE]

    def pgbench_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": BENCH_PASSWORD}

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data),
                                          "-m", "immediate", "-w", "stop"),
                           capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    bin_dir = postgres_bin()
    require_service("PostgreSQL", bin_dir is not None and shutil.which("psql") is not None,
                    "no /usr/lib/postgresql/*/bin/initdb or psql "
                    "(scripts/services.sh installs postgresql)")
    assert bin_dir is not None
    if os.geteuid() == 0:
        require_service("PostgreSQL", shutil.which("runuser") is not None
                        and _user_exists("postgres"), "running as root needs the postgres user")
    cluster = PgCluster(bin_dir)
    started = time.monotonic()
    try:
        cluster.start()
    except Exception:
        log = cluster.root / "server.log"
        detail = log.read_text()[-2000:] if log.exists() else ""
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start in {time.monotonic() - started:.0f}s: "
                           f"{detail}") from None
    try:
        yield cluster
    finally:
        cluster.stop()


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
