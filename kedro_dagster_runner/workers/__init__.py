"""Where nodes run: the step entry point, rebuilding the project, the run store, handoff data."""
