# Chromium for the browser tests and benchmarks (tests/e2e, bench/browser_*.py).
# Debian's build: no browser download works here, and Playwright drives it through
# executable_path. Fonts so that labels and panels render legibly in screenshots.

start() {
  apt_install chromium fonts-dejavu-core fonts-liberation || return 1
  log "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
}

stop() {
  :  # nothing runs in the background: each test launches and closes its own browser
}
