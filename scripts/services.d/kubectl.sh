# kubectl, for kubesim's fidelity tests (tests/sim/test_kubectl_fidelity.py).
# The machine image ships it as the `kubectl` package (/usr/bin/kubectl); a machine
# without it gets that package, or Debian's own `kubernetes-client` where the first is not
# in the apt sources.

start() {
  if command -v kubectl >/dev/null 2>&1; then
    log "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
    return 0
  fi
  apt_install kubectl || apt_install kubernetes-client || return 1
  log "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
}

stop() {
  :  # nothing runs
}
