#!/usr/bin/env bash
# Build the stripped onefile executable dist/grok2api (and, with --onedir, dist/grok2api-dir/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh binary
work=${PYINSTALLER_WORKPATH:-.pyinstaller}
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN --workpath "$work" --distpath dist grok2api.spec
if [ "${1:-}" = "--onedir" ]; then
  BUILD_ONEDIR=1 .venv/bin/pyinstaller --noconfirm --log-level WARN --workpath "$work" \
    --distpath dist grok2api.spec
fi
ls -l dist/grok2api
