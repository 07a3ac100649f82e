"""The throw-away instance of attached runs: its event log writes events only when read, and
reads then see every event, in order, as Dagster's own in-memory instance would."""

from __future__ import annotations

import dagster

from kedro_dagster_runner.deploy.ephemeral import DeferredEventLogStorage, ephemeral_instance


@dagster.op
def _first() -> int:
    return 1


@dagster.op
def _second(value: int) -> int:
    return value + 1


@dagster.job
def _two_ops() -> None:
    _second(_first())


def test_events_are_kept_unwritten_until_read_then_all_readable_in_order() -> None:
    with ephemeral_instance({"telemetry": {"enabled": False}}) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, DeferredEventLogStorage)
        assert instance.is_ephemeral

        result = _two_ops.execute_in_process(instance=instance)

        assert result.success
        pending = storage.pending_count
        assert pending > 0  # nothing read the log during the run
        records = instance.all_logs(result.run_id)
        assert storage.pending_count == 0
        expected = [event.event_type_value for event in result.all_events]
        assert [r.dagster_event.event_type_value for r in records if r.is_dagster_event] == (
            expected
        )
        assert len(records) == pending
        stats = instance.get_run_step_stats(result.run_id)
        assert {stat.step_key for stat in stats} == {"_first", "_second"}


def test_watchers_hear_each_event_as_it_is_stored() -> None:
    heard: list[str] = []
    with ephemeral_instance({}) as instance:
        run = instance.create_run_for_job(_two_ops)
        instance.event_log_storage.watch(
            run.run_id, None, lambda event, cursor: heard.append(event.dagster_event_type)
        )
        instance.report_engine_event("hello", run)
        assert len(heard) == 1
        assert instance.event_log_storage.pending_count == 1
