"""Rendering of result models for each surface: Block Kit for Slack, plain text for the console and CLI.

What flows through: a handler's result (a pydantic model, or a plain string) goes in; Slack gets
the blocks (built with `slack_sdk.models.blocks` in each feature's `blocks.py`, which checks
Slack's limits) and the notification text, the terminal gets text. One text renderer and one
Block Kit renderer per result type, registered by the feature on the runtime's registry; the
lookup follows the type's MRO, so a subclass renders like its base unless it registers its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # slack_sdk costs ~80 ms to import; only Slack-facing code needs it at run time
    from slack_sdk.models.blocks import Block

T = TypeVar("T")
BlocksRenderer = Callable[[Any], "Sequence[Block]"]
TextRenderer = Callable[[Any], str]

# Slack shows at most this much text in the notification (push, screen readers).
FALLBACK_CHARS = 300


class RendererMissing(TypeError):
    """A result type has no renderer for a surface: a wiring mistake, caught by the tests."""


class Renderers:
    def __init__(self) -> None:
        self._blocks: dict[type, BlocksRenderer] = {}
        self._text: dict[type, TextRenderer] = {}

    def add(self, kind: type[T], *, text: Callable[[T], str],
            blocks: Callable[[T], Sequence[Block]] | None = None) -> None:
        """Register how `kind` reads; `blocks` may be left out only for types never sent to Slack."""
        if kind in self._text:
            raise RuntimeError(f"renderers for {kind.__name__} registered twice")
        self._text[kind] = text
        if blocks is not None:
            self._blocks[kind] = blocks

    def _find(self, table: dict[type, Callable[[Any], Any]], result: object, surface: str) -> Callable[[Any], Any]:
        for kind in type(result).__mro__:
            if kind in table:
                return table[kind]
        raise RendererMissing(f"no {surface} renderer for {type(result).__name__}")

    def text(self, result: object) -> str:
        return str(self._find(self._text, result, "text")(result))

    def block_objects(self, result: object) -> Sequence[Block]:
        return list(self._find(self._blocks, result, "Block Kit")(result))

    def blocks(self, result: object) -> list[dict[str, Any]]:
        """The blocks as Slack's JSON; `to_dict()` validates each against Slack's limits."""
        return [block.to_dict() for block in self.block_objects(result)]

    def fallback(self, result: object) -> str:
        """The notification text Slack shows where blocks cannot be (push, screen readers)."""
        text = self.text(result).strip()
        first = text.splitlines()[0] if text else "bizra"
        return first[:FALLBACK_CHARS]
