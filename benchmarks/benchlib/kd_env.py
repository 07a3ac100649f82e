"""Where kedro-dagster 0.8.1 (the reference plugin we compare with) is installed.

kedro-dagster's requirements resolve beside dagster 1.13.27 without changing any installed
package (checked with :func:`fit_report`), but it registers a ``kedro.project_commands`` entry
point that Kedro loads eagerly on every ``kedro`` command in a project: it imports ``dagster`` and
``dagster_dg_cli`` into every ``kedro run``, SequentialRunner included. That would distort the
CLI start-up comparison (and every ``kedro`` command of the development environment), so the
suite installs it into its own virtual environment, ``benchmarks/.venv-kedro-dagster``, created
with ``--system-site-packages`` so that it reuses the installed Kedro and Dagster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

KD_REQUIREMENT = "kedro-dagster==0.8.1"
KD_VERSION = "0.8.1"
VENV_DIR = Path(__file__).resolve().parents[1] / ".venv-kedro-dagster"
FIT_FILE = VENV_DIR / "fit-report.json"


def venv_python() -> Path:
    """The interpreter of the kedro-dagster venv."""
    return VENV_DIR / "bin" / "python"


def _installed_version(python: Path) -> str | None:
    probe = "import importlib.metadata as m; print(m.version('kedro-dagster'))"
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def fit_report() -> dict[str, Any]:
    """Whether kedro-dagster 0.8.1 installs beside the main environment's packages.

    Downloads the wheel without dependencies to read its ``Requires-Dist``, then asks pip for a
    dry-run install report and lists the already-installed distributions it would replace.
    """
    from importlib import metadata

    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", KD_REQUIREMENT, "--no-deps", "-d", scratch],
            check=True,
            capture_output=True,
        )
        requires = _requires_dist(next(Path(scratch).glob("*.whl")))
        report_file = Path(scratch) / "report.json"
        dry_run = ["install", "--dry-run", "--quiet", "--report", str(report_file)]
        subprocess.run(
            [sys.executable, "-m", "pip", *dry_run, KD_REQUIREMENT],
            check=True,
            capture_output=True,
        )
        report = json.loads(report_file.read_text())
    would_install = {
        item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]
    }
    replaced = {}
    for name, version in would_install.items():
        try:
            current = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if current != version:
            replaced[name] = f"{current} -> {version}"
    return {
        "requires_dist": requires,
        "dagster_installed": metadata.version("dagster"),
        "would_install": would_install,
        "would_replace": replaced,
        "fits": "dagster" not in replaced and "kedro" not in replaced,
    }


def ensure_venv(log: Any = print) -> tuple[Path | None, str]:
    """Create the venv and install kedro-dagster into it if needed.

    Returns:
        ``(python, message)``: the venv's interpreter, or ``None`` with the reason it is unusable.
    """
    python = venv_python()
    if python.exists() and _installed_version(python) == KD_VERSION:
        return python, f"kedro-dagster {KD_VERSION} in {VENV_DIR}"
    try:
        if not python.exists():
            log(f"creating {VENV_DIR} (--system-site-packages)")
            subprocess.run(
                [sys.executable, "-m", "venv", "--system-site-packages", str(VENV_DIR)],
                check=True,
            )
        log(f"installing {KD_REQUIREMENT} into {VENV_DIR}")
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", KD_REQUIREMENT],
            check=True,
            capture_output=True,
        )
        FIT_FILE.write_text(json.dumps(fit_report(), indent=1, sort_keys=True))
    except (subprocess.CalledProcessError, OSError, StopIteration, KeyError) as exc:
        return None, f"cannot install {KD_REQUIREMENT}: {exc}"
    version = _installed_version(python)
    if version != KD_VERSION:
        return None, f"kedro-dagster {KD_VERSION} not importable in {VENV_DIR} (got {version})"
    return python, f"kedro-dagster {KD_VERSION} installed in {VENV_DIR}"


def load_fit_report() -> dict[str, Any] | None:
    """The fit report written when the venv was created, if any."""
    return json.loads(FIT_FILE.read_text()) if FIT_FILE.exists() else None
