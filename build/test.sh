#!/usr/bin/env bash
# Set up with the test extras, make sure Redis/PostgreSQL/MariaDB are up, type-check, run the whole suite.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh test
bash build/services.sh
bash build/browser.sh
bash build/promtool.sh
# The annotations are checked before any test runs (settings in setup.cfg [mypy]); errors fail the run.
.venv/bin/python -m mypy grok2api
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
# pytest exits 5 when it collected nothing: that is a broken run, never a pass.
if [ "$code" -eq 5 ]; then
  echo "test.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$code"
