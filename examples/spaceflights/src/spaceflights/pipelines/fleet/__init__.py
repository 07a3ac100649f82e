"""Per-engine-type fleet summaries: a pipeline partitioned by static keys."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
