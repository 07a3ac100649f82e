"""Day-over-day booking changes: a pipeline partitioned by day."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
