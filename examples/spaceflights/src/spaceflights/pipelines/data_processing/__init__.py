"""Clean the raw spaceflights tables and join them into a model input table."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
