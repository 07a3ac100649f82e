#!/usr/bin/env bash
# The fast suite (tests/) on older Kedro releases than the main environment's, each in a clean
# virtualenv of its own: the oldest release README.md claims (Kedro 1.0.x) and 1.3.x (the first
# whose before_pipeline_run gets "run_id" rather than only "session_id").
#
#   bash .ci/kedro_versions.sh                 # every series below, `python -m pytest tests`
#   bash .ci/kedro_versions.sh tests/test_hooks.py -x   # other pytest arguments
#   KDR_KEDRO_SERIES="1.3" bash .ci/kedro_versions.sh   # some of the series only
#
# A venv is reused when its stamp (series, pinned companions, this checkout's path, the Python
# and pyproject.toml) matches; otherwise the same pip command updates it in place, so a CI clone
# in another folder repoints the editable install rather than running another checkout's code.
# Venvs live outside the repository: $KDR_VENV_ROOT, default ${TMPDIR:-/tmp}/kdr-venvs.
# Measured on the project's 2-core machine (other jobs running): the whole fast suite takes
# ~2.5-3 min per series (tests needing a newer Kedro skip with their reason), and creating a
# venv ~1.5 min when the pip cache holds the main environment's wheels: ~8 min for both.
# Should the budget get tight, pass the files that exercise Kedro's API instead, e.g.
#   bash .ci/kedro_versions.sh tests/test_kedro_contract.py tests/test_hooks.py \
#     tests/test_failures.py tests/test_compat.py tests/test_filters.py tests/test_differential.py
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD

export KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 PIP_DISABLE_PIP_VERSION_CHECK=1

PYTHON=${PYTHON:-python}
VENV_ROOT=${KDR_VENV_ROOT:-${TMPDIR:-/tmp}/kdr-venvs}
read -r -a SERIES <<<"${KDR_KEDRO_SERIES:-1.0 1.3}"
PYTEST_ARGS=("$@")
[ "${#PYTEST_ARGS[@]}" -gt 0 ] || PYTEST_ARGS=(tests)

# Companions pinned per Kedro series: the newest kedro-datasets that installs and passes there
# (9.6.0 declares kedro>=1.0.0rc1,<2 and its pandas/json/pickle datasets import on Kedro 1.0).
declare -A DATASETS=([1.0]=9.6.0 [1.3]=9.6.0)

prepare_venv() { # series venv: create, or update in place when the stamp differs; then check it
  local series=$1 venv=$2 stamp
  local datasets=${DATASETS[$series]:?"no kedro-datasets pin for Kedro $series in $0"}
  local python_version
  python_version=$("$PYTHON" -c 'import sys; print(sys.version)')
  stamp=$(
    {
      echo "kedro==$series.* kedro-datasets==$datasets $REPO"
      echo "$python_version"
      cat pyproject.toml
    } | sha256sum | cut -d' ' -f1
  )
  if [ "$("$venv/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" != "$python_version" ]
  then # absent, broken or of another Python: a new one
    rm -rf "$venv"
    mkdir -p "$VENV_ROOT"
    "$PYTHON" -m venv "$venv"
  fi
  if [ "$(cat "$venv/.kdr-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "kedro_versions: installing Kedro $series.* and kedro-datasets $datasets into $venv"
    rm -f "$venv/.kdr-stamp"
    "$venv/bin/python" -m pip install -qq --upgrade pip
    "$venv/bin/python" -m pip install -qq -e "${REPO}[dev,all]" \
      "kedro==$series.*" "kedro-datasets==$datasets"
    echo "$stamp" >"$venv/.kdr-stamp"
  fi
  # The venv must run this checkout and the series asked for. Checked from outside the repo,
  # where only the editable install provides the package (as in the `kedro run` subprocesses).
  (cd / && "$venv/bin/python" -c '
import sys
from pathlib import Path

import kedro
import kedro_dagster_runner

repo, series = Path(sys.argv[1]).resolve(), sys.argv[2]
where = Path(kedro_dagster_runner.__file__).resolve()
if repo not in where.parents:
    sys.exit(f"kedro_versions: {sys.executable} imports kedro_dagster_runner from {where}")
if kedro.__version__.split(".")[:2] != series.split("."):
    sys.exit(f"kedro_versions: {sys.executable} has Kedro {kedro.__version__}, not {series}.x")
' "$REPO" "$series")
}

failed=()
summary=()
for series in "${SERIES[@]}"; do
  venv="$VENV_ROOT/kedro-$series"
  prepare_venv "$series" "$venv"
  versions=$("$venv/bin/python" -c '
from importlib.metadata import version
print(", ".join(f"{name} {version(name)}" for name in ("kedro", "kedro-datasets", "dagster")))')
  echo "=== kedro_versions: python -m pytest ${PYTEST_ARGS[*]} on $versions ($venv)"
  start=$SECONDS
  if "$venv/bin/python" -m pytest -p no:cacheprovider "${PYTEST_ARGS[@]}"; then
    result=passed
  else
    result="FAILED (exit $?)"
    failed+=("$series")
  fi
  summary+=("kedro_versions: $versions: $result in $((SECONDS - start)) s")
done

printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "kedro_versions: the suite failed on Kedro ${failed[*]}" >&2
  exit 1
fi
