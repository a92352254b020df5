# Alertmanager for the alerting tests (tests/integration/test_alerting_alertmanager.py).
# Only the binary: each test run starts its own instance on a free loopback port with a
# generated config (tests/support/alertmanager.py); Debian's system service is not used.

start() {
  apt_install prometheus-alertmanager || return 1
  # The package enables a system instance on :9093; stop it so that nothing else on the
  # machine answers where a test or the demo expects its own.
  if command -v systemctl >/dev/null 2>&1 \
      && systemctl is-active --quiet prometheus-alertmanager 2>/dev/null; then
    systemctl stop prometheus-alertmanager 2>/dev/null || true
  fi
  log "alertmanager: $(prometheus-alertmanager --version 2>&1 | head -1)"
}

stop() {
  :  # nothing runs in the background: each test run starts and stops its own instance
}
