"""A tiny Kedro project the tests run under every runner."""
