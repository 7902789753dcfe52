#!/usr/bin/env bash
# Set up (virtualenv + install) and run the gateway on SQLite in ./data.
# Extra arguments go to `grok2api serve` (e.g. --port 8080, --demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh
export DATA_DIR=${DATA_DIR:-./data}
exec .venv/bin/grok2api serve "$@"
