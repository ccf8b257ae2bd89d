"""Config sections, one module each, composed into `bot.config.BizraConfig`."""

import re

_HTTP_URL = re.compile(r"^https?://[^/\s]+")


def require_http_url(value: str, *, example: str) -> str:
    """Config URLs the bot calls must be http(s) with a host; the error shows a working example."""
    if not _HTTP_URL.match(value):
        raise ValueError(f"must be an http:// or https:// URL, e.g. {example}")
    return value
