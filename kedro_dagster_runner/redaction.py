"""Connection URLs with passwords: telling them apart and masking them for messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def has_credentials(value: str) -> bool:
    """True for a URL with a password in it (``scheme://user:password@host...``)."""
    if "://" not in value or "@" not in value:
        return False
    credentials = value.split("://", 1)[1].rsplit("@", 1)[0]
    return ":" in credentials and not credentials.endswith(":")


def mask_url(url: str | None) -> str:
    """``scheme://user:***@host/...``: a connection URL safe to print."""
    if not url or "@" not in url or "://" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def masked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Executor options safe to print: passwords in URLs are masked."""
    return {
        key: mask_url(value) if isinstance(value, str) and "://" in value else value
        for key, value in options.items()
    }
