"""Build a Docker image of a Kedro project for the container executors (docker, k8s).

The image holds a venv at ``/opt/venv`` (first on ``PATH``) with the project's dependencies,
kedro-dagster-runner (from PyPI, or from a local checkout) and the project itself installed in
place at ``/project`` (the ``WORKDIR``), so both ``kedro run`` and the ``dagster api execute_step``
that a step container runs work out of the box. ``KEDRO_DISABLE_TELEMETRY=true`` is set.

What goes into the build context, and what never does:

- The project, without generated data (``data/02_*`` .. ``data/08_*`` keep only ``.gitkeep``),
  without ``conf/local`` (credentials live there: mount them at run time), caches, venvs and
  ``.git``.
- The host's CA bundle and the host's http(s) package indexes (``pip config`` and
  ``PIP_INDEX_URL`` / ``PIP_EXTRA_INDEX_URL``), so pip in the build reaches what the host's pip
  reaches. Index URLs carrying credentials and ``file://`` indexes are left out; nothing is passed
  as a build argument except the base image's name.

The build runs with ``docker build --network host`` only (never Docker's bridge network) and the
classic builder, with layers ordered for reuse: dependencies, then the runner, then the project.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from kedro_dagster_runner.errors import ConfigError, ImageBuildError, ProjectError
from kedro_dagster_runner.executors import KINDS, InstanceNeed

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

TEMPLATE = Path(__file__).parent / "templates" / "Dockerfile.project"
PROJECT_DIR_IN_IMAGE = "/project"
RUNNER_DISTRIBUTION = "kedro-dagster-runner"
# What a step container or run worker of any container kind needs (the kinds whose steps open
# the shared instance from their arguments), and the Postgres instance.
DEFAULT_EXTRAS = (
    *(
        kind.extra.name
        for kind in KINDS.values()
        if kind.instance_need is InstanceNeed.SHARED and kind.extra
    ),
    "postgres",
)
DEFAULT_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = "org.kedro-dagster-runner"
DOCKER_CLI = "docker"  # the Docker command-line client

# Never copied from a project or runner checkout into the image.
_ALWAYS_IGNORED = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".ipynb_checkpoints",
    "build",
    "dist",
    "sessions",
    "node_modules",
}
_GENERATED_DATA = re.compile(r"0[2-8]_")


def build_project_image(
    project_path: Path,
    tag: str,
    base_image: str,
    runner_source: Path | None = None,
    *,
    extras: Sequence[str] = DEFAULT_EXTRAS,
    runner_version: str | None = None,
    constraints: Iterable[str] | None = None,
    labels: dict[str, str] | None = None,
    log: Path | None = None,
) -> str:
    """Build the image ``tag`` of the Kedro project at ``project_path`` and return ``tag``.

    Args:
        project_path: the Kedro project (the folder with ``pyproject.toml`` and ``conf/``).
        tag: the image name to build, e.g. ``"spaceflights:latest"``.
        base_image: an image with ``python3.11`` and its ``venv`` and ``pip`` modules.
        runner_source: a kedro-dagster-runner checkout to install; ``None`` installs the PyPI
            release (``runner_version`` pins it).
        extras: kedro-dagster-runner extras to install (default: those of the container kinds
            and ``postgres``, so the image serves step containers and run workers of both).
        constraints: pip constraint lines (``name==version``), e.g. :func:`host_constraints`, to
            get the same versions as another environment.
        labels: image labels, added to ``org.kedro-dagster-runner.project=<package name>``.
        log: a file to write the build output to (it is kept in memory otherwise).

    Raises:
        ProjectError: ``project_path`` has no ``pyproject.toml``.
        ImageBuildError: when ``docker build`` fails.
    """
    project_path = Path(project_path).resolve()
    if not (project_path / "pyproject.toml").is_file():
        raise ProjectError(f"{project_path} is not a Kedro project (no pyproject.toml)")
    with tempfile.TemporaryDirectory(prefix="kdr-image-") as tmp:
        context = Path(tmp)
        prepare_context(
            context,
            project_path,
            runner_source=runner_source,
            extras=extras,
            runner_version=runner_version,
            constraints=constraints,
        )
        all_labels = {f"{LABEL}.project": _package_name(project_path), **(labels or {})}
        command = _build_command(context, tag, base_image, all_labels)
        # The classic builder: BuildKit would need buildx and a network.host entitlement.
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        result = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False
        )
        output = result.stdout.decode(errors="replace")
        if log is not None:
            Path(log).write_text(output)
        if result.returncode != 0:
            raise ImageBuildError(
                f"docker build of {project_path} as {tag} failed "
                f"(exit {result.returncode}):\n{output[-4000:]}"
            )
    return tag


def _build_command(context: Path, tag: str, base_image: str, labels: dict[str, str]) -> list[str]:
    """``docker build`` on the host network only (never Docker's bridge network)."""
    command = [DOCKER_CLI, "build", "--network", "host"]
    command += ["--build-arg", f"BASE_IMAGE={base_image}", "--tag", tag]
    command += ["--file", str(context / "Dockerfile")]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    return [*command, str(context)]


def prepare_context(
    context: Path,
    project_path: Path,
    *,
    runner_source: Path | None = None,
    extras: Sequence[str] = DEFAULT_EXTRAS,
    runner_version: str | None = None,
    constraints: Iterable[str] | None = None,
) -> Path:
    """Write the Dockerfile and everything it copies into ``context`` (see the module doc)."""
    context.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATE, context / "Dockerfile")

    kdr = context / "kdr"
    kdr.mkdir()
    ca_bundle = Path(os.environ.get("PIP_CERT") or DEFAULT_CA_BUNDLE)
    if not ca_bundle.is_file():
        ca_bundle = DEFAULT_CA_BUNDLE
    shutil.copyfile(ca_bundle, kdr / "ca-certificates.crt")
    (kdr / "pip.conf").write_text(pip_conf(host_index_urls()))

    requirements = context / "requirements"
    requirements.mkdir()
    lines = project_requirements(project_path)
    runner_dir = context / "runner"
    if runner_source is not None:
        runner_source = Path(runner_source).resolve()
        lines += runner_requirements(runner_source, extras)
        _copy_tree(runner_source, runner_dir, _runner_ignore(runner_source))
    else:
        version = f"=={runner_version}" if runner_version else ""
        extra = f"[{','.join(extras)}]" if extras else ""
        lines.append(f"{RUNNER_DISTRIBUTION}{extra}{version}")
        runner_dir.mkdir()
    header = []
    if constraints is not None:
        (requirements / "constraints.txt").write_text("\n".join(constraints) + "\n")
        header = ["-c constraints.txt"]
    (requirements / "requirements.txt").write_text("\n".join([*header, *sorted(set(lines))]) + "\n")
    _copy_tree(project_path, context / "project", _project_ignore(project_path))
    _fix_mtimes(context / "kdr", context / "requirements")
    return context


def project_requirements(project_path: Path) -> list[str]:
    """The project's dependencies: ``pyproject.toml`` and ``requirements.txt`` (root or src/)."""
    pyproject = tomllib.loads((project_path / "pyproject.toml").read_text())
    lines = list(pyproject.get("project", {}).get("dependencies", []))
    lines += pyproject.get("build-system", {}).get("requires", [])
    for candidate in (project_path / "requirements.txt", project_path / "src" / "requirements.txt"):
        if candidate.is_file():
            lines += _plain_requirements(candidate.read_text())
    if not lines:
        lines.append("kedro")
    return lines


def runner_requirements(runner_source: Path, extras: Sequence[str]) -> list[str]:
    """A runner checkout's dependencies, with its extras resolved (self references included)."""
    pyproject = tomllib.loads((runner_source / "pyproject.toml").read_text())
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    name = _normalise(project["name"])
    lines = list(project.get("dependencies", []))
    lines += pyproject.get("build-system", {}).get("requires", [])
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise ConfigError(f"{runner_source}/pyproject.toml has no extra {extra!r}")
        seen.add(extra)
        for requirement in optional[extra]:
            match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*\[([^\]]*)\]", requirement)
            if match and _normalise(match.group(1)) == name:
                pending += [item.strip() for item in match.group(2).split(",")]
            else:
                lines.append(requirement)
    return lines


def host_index_urls() -> list[str]:
    """The http(s) package indexes the host's pip uses, primary first (no file://, no secrets)."""
    urls: list[str] = []
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError:  # pragma: no cover
        listing = ""
    values = {"index-url": [], "extra-index-url": []}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        option = key.rsplit(".", 1)[-1]
        if option in values:
            values[option] += value.strip().strip("'\"").split()
    values["index-url"] += os.environ.get("PIP_INDEX_URL", "").split()
    values["extra-index-url"] += os.environ.get("PIP_EXTRA_INDEX_URL", "").split()
    primary = [url for url in values["index-url"] if _usable_index(url)][-1:]
    urls += primary
    urls += [url for url in values["extra-index-url"] if _usable_index(url) and url not in urls]
    return urls


def pip_conf(index_urls: Sequence[str]) -> str:
    """A pip.conf naming ``index_urls`` (the first as index-url); PyPI when it is empty."""
    lines = ["[global]"]
    if index_urls:
        lines.append(f"index-url = {index_urls[0]}")
    if len(index_urls) > 1:
        lines.append("extra-index-url = " + " ".join(index_urls[1:]))
    return "\n".join(lines) + "\n"


def host_constraints() -> list[str]:
    """``name==version`` for every distribution in this interpreter, for ``constraints=``.

    Editable installs, direct references and local versions (``+cpu``) are left out: a build can
    only ask the package indexes for what they serve.
    """
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line
        for line in frozen.splitlines()
        if re.fullmatch(r"[A-Za-z0-9_.\-\[\],]+==[A-Za-z0-9_.!\-]+", line.strip())
        and _normalise(line.split("==")[0]) != RUNNER_DISTRIBUTION
    ]


def _usable_index(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False  # file:// indexes live on the host only
    # Credentials in a URL would end up in an image layer: never copy them.
    return not (parts.username or parts.password)


def _plain_requirements(text: str) -> list[str]:
    """Requirement lines an image can install: no options, editables or local paths."""
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", ".", "/", "file:")):
            continue
        lines.append(line)
    return lines


def _package_name(project_path: Path) -> str:
    pyproject = tomllib.loads((project_path / "pyproject.toml").read_text())
    return pyproject.get("tool", {}).get("kedro", {}).get("package_name") or project_path.name


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


IgnoreFunction = Callable[[str, list[str]], set[str]]


def _project_ignore(project_path: Path) -> IgnoreFunction:
    data = (project_path / "data").resolve()
    conf_local = (project_path / "conf" / "local").resolve()

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        ignored = {name for name in names if name in _ALWAYS_IGNORED or name.endswith(".egg-info")}
        # Generated data and local configuration: keep the folders, drop their contents.
        if here == conf_local or (here.parent == data and _GENERATED_DATA.match(here.name)):
            ignored |= {name for name in names if name != ".gitkeep"}
        elif data in here.parents and _GENERATED_DATA.match(here.relative_to(data).parts[0]):
            ignored |= set(names)
        return ignored

    return ignore


def _runner_ignore(runner_source: Path) -> IgnoreFunction:
    root = runner_source.resolve()
    keep = {"kedro_dagster_runner", "pyproject.toml", "README.md", "LICENSE", "setup.py"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory).resolve() == root:  # only the package and its metadata
            return {name for name in names if name not in keep}
        return {name for name in names if name in _ALWAYS_IGNORED or name.endswith(".egg-info")}

    return ignore


def _copy_tree(source: Path, target: Path, ignore: IgnoreFunction) -> None:
    shutil.copytree(source, target, ignore=ignore, symlinks=False)


def _fix_mtimes(*roots: Path) -> None:
    """Generated files get a fixed timestamp, so unchanged content reuses cached layers."""
    for root in roots:
        for path in [root, *root.rglob("*")]:
            os.utime(path, (0, 0))
