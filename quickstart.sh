#!/usr/bin/env bash
# One command from a fresh clone: install kedro-dagster-runner and run the example project on Dagster.
#   bash quickstart.sh            # in_process executor (conf/base/dagster.yml)
#   bash quickstart.sh --env dev  # multiprocess executor (conf/dev/dagster.yml)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python -m pip install --quiet -e "${here}[dev]"
export KEDRO_DISABLE_TELEMETRY="${KEDRO_DISABLE_TELEMETRY:-true}"
cd "${here}/examples/spaceflights"
kedro run --runner kedro_dagster_runner.DagsterRunner "$@"
