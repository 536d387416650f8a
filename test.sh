#!/usr/bin/env bash
# Run the test suite on a fresh machine: installs what is missing (local/install.sh), then pytest.
# Extra arguments go to pytest, e.g. ./test.sh tests/data -x
set -euo pipefail
cd "$(dirname "$0")"
local/install.sh
. ./path.sh
exec python -m pytest -q -p no:cacheprovider "$@"
