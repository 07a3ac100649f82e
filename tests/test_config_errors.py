"""Bad configuration fails before any node runs, with a short error naming what to fix.

The "faults and bad input" rows: ``runner.handoff`` the run's store cannot go under, numbers and
booleans of the wrong type, unknown keys (with "did you mean"), the files an error names, and how
``kedro run`` prints a ``ConfigError``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path

import click
import pytest
from kedro_projects import RUNNER, KedroRunner

from kedro_dagster_runner.config import describe_sources, resolve_config
from kedro_dagster_runner.errors import ConfigError

FILE = "conf/base/dagster.yml"
HEADER = "Invalid DagsterRunner configuration in"


def _error(raw: dict | None, overrides: dict | None = None, source: str = FILE) -> str:
    with pytest.raises(ConfigError) as error:
        resolve_config(raw, overrides, source=source)
    return str(error.value)


def _pool(**runner: object) -> dict:
    return {"runner": {"executor": "multiprocess", **runner}}


# runner.handoff ------------------------------------------------------------------------------


def test_handoff_under_a_file_names_the_key_the_value_and_the_file(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")

    message = _error(_pool(handoff=f"{a_file}/sub"))
    assert message == (
        f"{HEADER} {FILE}:\n"
        f"  runner.handoff: '{a_file}/sub' is under '{a_file}', a file, not a directory; set it "
        "to a directory (or remove runner.handoff to use a temporary directory)"
    )
    assert f"runner.handoff: '{a_file}' is a file, not a directory" in _error(
        _pool(handoff=str(a_file))
    )


def test_handoff_with_an_unknown_protocol() -> None:
    message = _error(_pool(handoff="foo://bar"))
    assert "runner.handoff: 'foo://bar' uses the protocol 'foo', which fsspec does not know" in (
        message
    )
    assert "s3://" in message  # what a URI looks like


def test_handoff_whose_fsspec_package_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = importlib.import_module("fsspec.registry")
    monkeypatch.setitem(
        registry.known_implementations,
        "kdrfake",
        {"class": "kdr_no_such_fs_package.FakeFileSystem", "err": "Install it"},
    )
    message = _error(_pool(handoff="kdrfake://bucket/x"))
    assert message.endswith(
        "runner.handoff: 'kdrfake://bucket/x' needs the kdr_no_such_fs_package package (fsspec's "
        "'kdrfake' protocol), which is not installed here: pip install kdr_no_such_fs_package"
    )


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_s3_handoff_without_s3fs_says_pip_install_s3fs() -> None:
    for handoff in ("s3://bucket/x", "simplecache::s3://bucket/x"):
        assert "pip install s3fs" in _error(_pool(handoff=handoff))


def test_handoff_from_runner_params_is_reported_there(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    message = _error(None, {"executor": "multiprocess", "handoff": f"{tmp_path}/f/x"})
    assert message.startswith(f"{HEADER} --runner-params:\n  runner.handoff: ")


def test_handoff_is_checked_only_where_it_is_used(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    unused = resolve_config({"runner": {"handoff": f"{tmp_path}/f/x"}})  # in_process
    assert unused.runner.handoff == f"{tmp_path}/f/x"
    fine = resolve_config(_pool(handoff=str(tmp_path / "not" / "yet" / "there")))
    assert fine.executor.kind == "multiprocess"
    assert not (tmp_path / "not").exists()  # the check creates nothing


# Numbers and booleans ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "option", "value", "expected"),
    [
        ("multiprocess", "max_concurrent", True, "Input should be a valid integer (got True)"),
        ("multiprocess", "max_workers", True, "Input should be a valid integer (got True)"),
        ("dagster_multiprocess", "max_concurrent", 2.5, "Input should be a valid integer"),
        ("dask", "n_workers", True, "Input should be a valid integer (got True)"),
        ("dask", "threads_per_worker", False, "Input should be a valid integer (got False)"),
        ("dask", "connect_timeout", True, "Input should be a valid number (got True)"),
        ("celery", "poll_interval", True, "Input should be a valid number (got True)"),
        (
            "docker",
            "mount_project",
            "maybe",
            "Input should be a valid boolean, unable to interpret input (got 'maybe')",
        ),
    ],
)
def test_numbers_and_booleans_must_have_their_type(
    kind: str, option: str, value: object, expected: str
) -> None:
    extra = {"image": "project:1"} if kind in ("docker", "k8s") else {}
    in_file = {"executors": {"x": {kind: {option: value, **extra}}}, "runner": {"executor": "x"}}
    assert f"  executors.x.{kind}.{option}: {expected}" in _error(in_file)

    message = _error(None, {"executor": kind, option: value, **extra})
    assert message.startswith(f"{HEADER} --runner-params:")
    assert f"  runner.executor ({kind}).{option}: {expected}" in message


def test_other_integers_refuse_booleans_and_runner_booleans_refuse_words() -> None:
    limits = {"tag_concurrency_limits": [{"key": "kedro/node", "limit": True}]}
    assert "tag_concurrency_limits.0.limit: Input should be a valid integer (got True)" in _error(
        None, {"executor": "multiprocess", **limits}
    )
    port = {"runner": {"instance": {"postgres": {"port": True}}}}
    assert "runner.instance.postgres.port: Input should be a valid integer (got True)" in _error(
        port
    )
    assert "runner.wait: Input should be a valid boolean" in _error(None, {"wait": "maybe"})


def test_numbers_from_environment_variables_are_taken() -> None:
    """OmegaConf's ``${oc.env:...}`` resolves to a string: a number written so is fine."""
    pool = resolve_config(
        {"executors": {"p": {"multiprocess": {"max_concurrent": "3"}}}, "runner": {"executor": "p"}}
    )
    assert pool.executor.options["max_concurrent"] == 3
    assert resolve_config(None, {"wait": "true"}).runner.wait is True


def test_well_typed_values_still_pass() -> None:
    dask = resolve_config(None, {"executor": "dask", "n_workers": 2, "connect_timeout": 5})
    assert dask.executor.options["connect_timeout"] == 5.0  # an integer is a fine number
    pool = resolve_config(None, {"executor": "multiprocess", "max_workers": 3})
    assert pool.executor.options["max_concurrent"] == 3
    assert resolve_config(None, {"wait": True}).runner.wait is True


# Unknown keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"exector": "dask"}, "unknown runner key 'exector' (did you mean executor?)"),
        ({"wiat": True}, "unknown runner key 'wiat' (did you mean wait?)"),
        (
            {"executor": "multiprocess", "max_concurent": 2},
            "unknown option 'max_concurent' of the multiprocess executor "
            "(did you mean max_concurrent?)",
        ),
        (
            {"executor": "multiprocess", "address": "tcp://h:8786"},
            "'address' is an option of the dask executor, not of the multiprocess executor",
        ),
        (
            {"executor": "multiprocess", "adress": "tcp://h:8786"},
            "unknown key 'adress' (did you mean address, an option of the dask executor?)",
        ),
    ],
)
def test_unknown_runner_params_key_gets_a_suggestion(overrides: dict, expected: str) -> None:
    message = _error({"runner": {"executor": "in_process"}}, overrides)
    assert message.startswith(f"{HEADER} --runner-params:\n")
    assert expected in message


def test_a_key_of_no_kind_lists_the_runner_keys_and_the_executor_options() -> None:
    message = _error(None, {"zzz": 1})
    assert message == (
        f"{HEADER} --runner-params:\n"
        "  unknown key 'zzz': neither a runner key nor an executor option; runner keys: "
        "dagster_logs, executor, group_nodes, handoff, instance, job, launcher, loggers, "
        "max_runtime, "
        "on_failure, partitions, progress, run_priority, run_retries, submit, wait; "
        "options of the in_process executor: retries"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"runnr": {}}, "  runnr: unknown key (did you mean runner?)"),
        ({"runner": {"exector": "x"}}, "  runner.exector: unknown key (did you mean executor?)"),
        (
            {"runner": {"instance": {"postgres": {"hostnme": "db"}}}},
            "  runner.instance.postgres.hostnme: unknown key (did you mean hostname?)",
        ),
        (
            {
                "executors": {"x": {"multiprocess": {"strat_method": "spawn"}}},
                "runner": {"executor": "x"},
            },
            "  executors.x.multiprocess.strat_method: unknown key (did you mean start_method?)",
        ),
        (
            {"executors": {"x": {"multiproces": {}}}},
            "  executors.x: unknown executor kind 'multiproces' (did you mean multiprocess?)",
        ),
        (
            {"executors": {"pool": {"multiprocess": {}}}, "runner": {"executor": "pol"}},
            "  runner.executor: 'pol' is neither an executor defined under 'executors' nor a "
            "known kind (did you mean pool?)",
        ),
        (
            {"nothing_like_it": {}},
            "  nothing_like_it: unknown key; allowed: executors, runner, jobs, schedules, "
            "loggers, sensors, retry_policies, pools (ignored: definitions, dev)",
        ),
        (
            {"runner": {"instance": "cloud"}},
            "  runner.instance: expected ephemeral, project, dagster_home or {postgres: {...}} "
            "(got 'cloud')",
        ),
    ],
)
def test_unknown_keys_in_the_file_get_a_suggestion(raw: dict, expected: str) -> None:
    message = _error(raw)
    assert message.startswith(f"{HEADER} {FILE}:\n")
    assert expected in message
    assert "literal[" not in message and "Extra inputs" not in message


# The files an error names --------------------------------------------------------------------


def _conf(tmp_path: Path, *files: str) -> Path:
    conf = tmp_path / "conf"
    for env in ("base", "local", "dev"):
        (conf / env).mkdir(parents=True, exist_ok=True)
    for name in files:
        (conf / name).parent.mkdir(parents=True, exist_ok=True)
        (conf / name).write_text("runner: {}\n")
    return conf


def test_without_env_the_sources_are_base_and_the_default_run_env(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path,
        "base/dagster.yml",
        "base/dagster/more.yaml",
        "base/.dagster_hidden.yml",
        "base/dagster.txt",
        "local/dagster.yml",
        "dev/dagster.yml",
    )
    expected = [conf / "base/dagster.yml", conf / "base/dagster/more.yaml"]
    assert describe_sources(str(conf), None) == ", ".join(
        str(p) for p in [*expected, conf / "local/dagster.yml"]
    )
    assert describe_sources(str(conf), "dev") == ", ".join(
        str(p) for p in [*expected, conf / "dev/dagster.yml"]
    )
    assert describe_sources(str(conf), None, base_env="dev", default_run_env="local") == (
        f"{conf / 'dev/dagster.yml'}, {conf / 'local/dagster.yml'}"
    )


def test_without_any_file_the_sources_say_where_none_was_found(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    source = describe_sources(str(conf), None)
    assert source == f"no dagster*.yml in {conf / 'base'} or {conf / 'local'}"

    message = _error(None, {"executor": "pool"}, source=source)
    assert message.startswith(f"{HEADER} --runner-params ({source}):\n  runner.executor: 'pool'")
    assert "<env>" not in message


def test_session_run_raises_config_error_naming_the_files_read(demo_project: Path) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner import DagsterRunner

    local = demo_project / "conf" / "local" / "dagster.yml"
    local.write_text("runner:\n  executor: nope\n")
    bootstrap_project(demo_project)
    with (
        KedroSession.create(project_path=demo_project) as session,
        pytest.raises(ConfigError) as error,
    ):
        session.run(runner=DagsterRunner())

    base = demo_project / "conf" / "base" / "dagster.yml"
    assert str(error.value).startswith(f"{HEADER} {base}, {local}:\n  runner.executor: 'nope'")


# How kedro run prints it ---------------------------------------------------------------------


def test_config_error_shows_as_its_message_alone(capsys: pytest.CaptureFixture[str]) -> None:
    message = f"{HEADER} {FILE}:\n  runner.executor: 'x' is ..."
    try:
        raise ConfigError(message)
    except ConfigError as error:
        assert isinstance(error, click.ClickException)  # Click prints it without a traceback
        error.show()
        assert capsys.readouterr().err == f"ConfigError: {message}\n"

        logger = logging.getLogger("kedro_dagster_runner")
        level = logger.level
        logger.setLevel(logging.DEBUG)  # the traceback too, for whoever debugs the package
        try:
            error.show()
        finally:
            logger.setLevel(level)
        shown = capsys.readouterr().err
        assert shown.startswith("Traceback (most recent call last):")
        assert shown.endswith(f"ConfigError: {message}\n")


def test_plain_python_run_raises_config_error_before_any_node() -> None:
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node

    from kedro_dagster_runner import DagsterRunner

    ran: list[str] = []
    pipeline = Pipeline([node(lambda: ran.append("x") or 1, None, "out", name="n")])
    with pytest.raises(ConfigError, match=r"unknown runner key 'exector' \(did you mean executor"):
        DagsterRunner(exector="dask").run(pipeline, DataCatalog())
    assert ran == []


def test_kedro_run_prints_a_config_error_in_two_lines(
    kedro_demo: KedroRunner, demo_project: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    mp_file = demo_project / "conf" / "mp" / "dagster.yml"  # dagster.yml: any Kedro 1.x
    mp_file.write_text(f"runner:\n  executor: pool\n  handoff: {a_file}/x\n")
    run = kedro_demo("--runner", RUNNER, "--env", "mp")

    assert run.returncode == 1
    header, problem = run.output.rstrip().splitlines()[-2:]
    assert header.startswith(f"ConfigError: {HEADER} ") and str(mp_file) in header
    assert problem == (
        f"  runner.handoff: '{a_file}/x' is under '{a_file}', a file, not a directory; set it to "
        "a directory (or remove runner.handoff to use a temporary directory)"
    )
    assert "Traceback" not in run.output and "╭" not in run.output
    assert run.calls("before_node_run") == []
    (pipeline_error,) = run.calls("on_pipeline_error")
    assert pipeline_error["error"] == "ConfigError"
