#!/usr/bin/env bash
# infra/'s tests: the real Pulumi program under Pulumi's mocks, in infra/.venv (made here if needed:
# ~1.5 min and ~320 MB the first time, from PyPI). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
. ./venv.sh
ensure_venv
exec "$VENV/bin/python" -m pytest -q "$@"
