"""A Docker engine and an offline base image for the container tests.

No image registry is reachable here, and Docker must never create a bridge network (its addresses
are in a private range). So this module:

- ``ensure_engine()``: installs Debian's ``docker.io`` (and ``debootstrap``) when missing, and
  starts ``dockerd --bridge=none --iptables=false --ip-masq=false`` in the background when
  ``docker info`` fails. Containers are then run with ``--network host`` only.
- ``ensure_base_image()``: builds ``kdr-base:bookworm`` once from a ``debootstrap
  --variant=minbase`` root with Python 3.11, venv, pip and the CA certificates, imported with
  ``docker import``. The root is cached as a tarball under ``$KDR_DOCKER_CACHE`` (default
  ``/var/cache/kdr-docker``), so a machine that lost its images rebuilds in seconds.

Command line (idempotent, each step does the previous ones first)::

    python integration/docker/harness.py ensure-engine
    python integration/docker/harness.py base-image [--name kdr-base:bookworm]
    python integration/docker/harness.py project-image [--project examples/spaceflights] [--tag ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "kdr-base:bookworm"
SUITE = "bookworm"
# The Debian mirror the host's apt uses (deb.debian.org here); override with KDR_DEBIAN_MIRROR.
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3.11", "python3-venv", "python3-pip", "ca-certificates")
DOCKERD_ARGS = ("--bridge=none", "--iptables=false", "--ip-masq=false")
DOCKERD_LOG = Path("/var/log/kdr-dockerd.log")


def _log(message: str) -> None:
    print(f"[kdr-docker] {message}", file=sys.stderr, flush=True)


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, **kwargs)


def cache_dir() -> Path:
    """Where the debootstrap root tarball is kept between runs (``$KDR_DOCKER_CACHE``)."""
    path = Path(os.environ.get("KDR_DOCKER_CACHE", "/var/cache/kdr-docker"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def engine_answers() -> bool:
    """True when ``docker info`` reaches a running daemon."""
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def _apt_install(packages: list[str]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _log(f"apt-get install {' '.join(packages)}")
    _run("apt-get", "update", "-qq", env=env)
    _run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages, env=env)


def ensure_engine(timeout: float = 90) -> None:
    """Make sure a Docker engine answers; install and start it (bridge none) when it does not."""
    missing = [
        package
        for package, command in (("docker.io", "dockerd"), ("debootstrap", "debootstrap"))
        if shutil.which(command) is None
    ]
    if missing:
        _apt_install(missing)
    if engine_answers():
        return
    _log(f"starting dockerd {' '.join(DOCKERD_ARGS)} (log: {DOCKERD_LOG})")
    with DOCKERD_LOG.open("ab") as log:
        subprocess.Popen(
            ["dockerd", *DOCKERD_ARGS],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this process: the engine stays up for later runs
        )
    deadline = time.monotonic() + timeout
    while not engine_answers():
        if time.monotonic() > deadline:
            tail = DOCKERD_LOG.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"dockerd did not answer within {timeout} s; log tail:\n{tail}")
        time.sleep(0.5)
    _log("docker engine is up")


def containers_with_label(label: str) -> list[str]:
    """Ids of the containers (running or not) carrying ``label`` (``key`` or ``key=value``)."""
    result = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def containers_created(label: str, since: float) -> int:
    """How many containers carrying ``label`` the engine created since ``since`` (a Unix time);
    counted from the engine's events, so containers removed since then count too."""
    result = subprocess.run(
        ["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
         "--filter", "type=container", "--filter", "event=create",
         "--filter", f"label={label}", "--format", "{{.ID}}"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return len(result.stdout.split())


def image_exists(name: str) -> bool:
    result = subprocess.run(["docker", "image", "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def _root_tarball(packages: tuple[str, ...], mirror: str) -> Path:
    """The debootstrap root as a tarball, made once per (suite, packages, mirror) and cached."""
    key = hashlib.sha256(f"{SUITE}|{','.join(packages)}|{mirror}".encode()).hexdigest()[:12]
    tarball = cache_dir() / f"{SUITE}-minbase-{key}.tar"
    if tarball.exists():
        _log(f"reusing cached root {tarball}")
        return tarball
    with tempfile.TemporaryDirectory(prefix="kdr-debootstrap-", dir=cache_dir()) as tmp:
        root = Path(tmp) / "root"
        _log(f"debootstrap --variant=minbase {SUITE} (about 100 s)")
        _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(packages)}",
            SUITE,
            str(root),
            mirror,
        )
        # Keep the image small: apt's downloaded packages and lists are not needed at run time.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / leftover).glob("*"):
                if item.is_file():
                    item.unlink()
        partial = tarball.with_suffix(".partial")
        _run("tar", "-C", str(root), "-cf", str(partial), ".")
        partial.rename(tarball)
    return tarball


def ensure_base_image(name: str = BASE_IMAGE, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    """Build the offline Debian base image ``name`` once; return its name."""
    ensure_engine()
    if image_exists(name):
        return name
    mirror = os.environ.get("KDR_DEBIAN_MIRROR", DEFAULT_MIRROR)
    tarball = _root_tarball(packages, mirror)
    _log(f"docker import {tarball} {name}")
    with tarball.open("rb") as data:
        _run(
            "docker",
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            "ENV LANG=C.UTF-8",
            "--change",
            'CMD ["/bin/bash"]',
            "-",
            name,
            stdin=data,
            stdout=subprocess.DEVNULL,
        )
    return name


def ensure_project_image(
    project: Path,
    tag: str,
    base_image: str = BASE_IMAGE,
    runner_source: Path | None = REPO,
    pin_host_versions: bool = True,
) -> str:
    """Engine, base image, then the project image (see kedro_dagster_runner.deploy.image).

    With ``pin_host_versions`` the image gets this interpreter's package versions (pip
    constraints), so its outputs can be compared byte for byte with a host run.
    """
    ensure_base_image(base_image)
    sys.path.insert(0, str(REPO))
    from kedro_dagster_runner.deploy.image import build_project_image, host_constraints

    constraints = host_constraints() if pin_host_versions else None
    return build_project_image(
        project, tag, base_image, runner_source=runner_source, constraints=constraints
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("ensure-engine", help="install and start the Docker engine (bridge none)")
    base = commands.add_parser("base-image", help="build the offline debootstrap base image")
    base.add_argument("--name", default=BASE_IMAGE)
    project = commands.add_parser("project-image", help="build a Kedro project's image")
    project.add_argument("--project", type=Path, default=REPO / "examples" / "spaceflights")
    project.add_argument("--tag", default="kdr-spaceflights:dev")
    project.add_argument("--base-image", default=BASE_IMAGE)
    project.add_argument(
        "--runner-source",
        type=Path,
        default=REPO,
        help="local kedro-dagster-runner checkout to install (default: this checkout)",
    )
    project.add_argument(
        "--from-pypi", action="store_true", help="install kedro-dagster-runner from PyPI instead"
    )
    project.add_argument(
        "--no-host-versions",
        action="store_true",
        help="let pip pick the newest versions instead of this interpreter's",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.command == "ensure-engine":
        ensure_engine()
        print("docker engine answers")
    elif args.command == "base-image":
        print(ensure_base_image(args.name))
    else:
        source = None if args.from_pypi else args.runner_source
        print(
            ensure_project_image(
                args.project, args.tag, args.base_image, source, not args.no_host_versions
            )
        )
    _log(f"{args.command} took {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
