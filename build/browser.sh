#!/usr/bin/env bash
# Make sure Debian's Chromium is installed for the Playwright browser tests (idempotent, quiet when present).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "browser.sh: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x /usr/bin/chromium ]; then
  echo "browser.sh: chromium did not install to /usr/bin/chromium" >&2
  exit 1
fi
