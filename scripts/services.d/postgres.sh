# PostgreSQL for the database source's tests and benchmarks (tests/integration/test_postgres*).
# Only the binaries: each test run makes its own throwaway cluster in a temp dir on a free
# loopback port (tests/support/postgres.py), as the `postgres` user since initdb refuses root.
# postgresql-contrib brings pgbench and pg_stat_statements.

start() {
  apt_install postgresql postgresql-contrib || return 1
  # Debian's package starts a system cluster on 5432; the tests need none of it.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    local ver name port status rest
    while read -r ver name port status rest; do
      if [ "$status" = online ]; then
        log "stopping Debian's cluster $ver/$name on port $port"
        pg_ctlcluster "$ver" "$name" stop || true
      fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
  fi
  log "postgresql: $(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)"
}

stop() {
  :  # nothing runs in the background: each test run starts and stops its own cluster
}
