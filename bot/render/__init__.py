"""Rendering of result models for each surface: Block Kit for Slack, plain text for the console.

One renderer per result type, registered with `@blocks_for(Type)` and `@text_for(Type)` in the
feature's own module under `bot/render/`. Plain strings render as a single mrkdwn section.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

Blocks = list[dict[str, Any]]
T = TypeVar("T", bound=BaseModel)


@functools.singledispatch
def to_blocks(result: object) -> Blocks:
    raise TypeError(f"no Block Kit renderer for {type(result).__name__}")


@functools.singledispatch
def to_text(result: object) -> str:
    raise TypeError(f"no text renderer for {type(result).__name__}")


@to_blocks.register
def _str_blocks(result: str) -> Blocks:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": result}}]


@to_text.register
def _str_text(result: str) -> str:
    return result


def fallback_text(result: object) -> str:
    """The notification text Slack shows where blocks cannot be (push, screen readers)."""
    text = to_text(result)
    first = text.strip().splitlines()[0] if text.strip() else "bizra"
    return first[:300]


def blocks_for(kind: type[T]) -> Callable[[Callable[[T], Blocks]], Callable[[T], Blocks]]:
    def register(func: Callable[[T], Blocks]) -> Callable[[T], Blocks]:
        to_blocks.register(kind)(func)
        return func

    return register


def text_for(kind: type[T]) -> Callable[[Callable[[T], str]], Callable[[T], str]]:
    def register(func: Callable[[T], str]) -> Callable[[T], str]:
        to_text.register(kind)(func)
        return func

    return register


def load_renderers() -> None:
    """Import every renderer module so that registration has happened."""
    from bot.render import catalog  # noqa: F401
