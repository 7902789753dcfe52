#!/usr/bin/env bash
# Put Debian's promtool (the `prometheus` package's linter) at .venv/bin/promtool for the /metrics test.
# Only the binary is unpacked from the package: no Prometheus server is installed or started.
set -euo pipefail
cd "$(dirname "$0")/.."
target=.venv/bin/promtool
if [ -x "$target" ]; then
  exit 0
fi
if command -v promtool >/dev/null 2>&1; then
  ln -sf "$(command -v promtool)" "$target"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "promtool.sh: unpacking promtool from Debian's prometheus package" >&2
(cd "$work" && apt-get download prometheus >/dev/null 2>&1) || {
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  (cd "$work" && apt-get download prometheus >/dev/null)
}
dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
install -m 0755 "$work/x/usr/bin/promtool" "$target"
"$target" --version >/dev/null
