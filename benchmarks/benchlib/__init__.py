"""Helpers of the kedro-dagster-runner benchmark suite (entry point: ``benchmarks/run.py``)."""
