# Prometheus for the Prometheus source's tests and benchmarks (tests/integration/test_prometheus*).
# Only the binary: each test run starts its own server on a free loopback port with a
# generated config (tests/support/prometheus.py); Debian's system service is not used.

start() {
  apt_install prometheus || return 1
  # The package enables a system instance on :9090 (and node-exporter on :9100); stop them
  # so that nothing else on the machine answers where a test or the demo expects its own.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus prometheus-node-exporter 2>/dev/null || true
  fi
  log "prometheus: $(prometheus --version 2>&1 | head -1)"
}

stop() {
  :  # nothing runs in the background: each test run starts and stops its own server
}
