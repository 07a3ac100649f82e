"""Spaceflights: a small Kedro example project for kedro-dagster-runner."""

__version__ = "0.1.0"
