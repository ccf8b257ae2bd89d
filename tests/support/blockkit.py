"""Slack's Block Kit limits, checked the way Slack checks them: a message that breaks one is refused.

The recording server runs every message it receives (chat.postMessage, chat.update, response_url
posts) through `problems()` and answers `invalid_blocks` like Slack does, so every test that posts
also proves that what it posted would render. Limits from the Block Kit reference.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
TEXT_TYPES = {"plain_text", "mrkdwn"}


def _text(obj: Any, where: str, *, limit: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
        return [f"{where}: not a text object"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"{where}: empty text"]
    if len(text) > limit:
        return [f"{where}: {len(text)} characters, more than {limit}"]
    return []


def _element(element: Any, where: str, action_ids: set[str]) -> list[str]:
    found: list[str] = []
    kind = element.get("type") if isinstance(element, dict) else None
    if kind == "button":
        found += _text(element.get("text"), f"{where}.text", limit=75, plain_only=True)
        action_id = element.get("action_id", "")
        if len(action_id) > 255:
            found.append(f"{where}: action_id longer than 255")
        if action_id and action_id in action_ids:
            found.append(f"{where}: action_id {action_id!r} is not unique in the message")
        action_ids.add(action_id)
        if len(element.get("value", "")) > 2000:
            found.append(f"{where}: value longer than 2000")
        if len(element.get("url", "")) > 3000:
            found.append(f"{where}: url longer than 3000")
        if element.get("style") not in (None, "primary", "danger"):
            found.append(f"{where}: style must be primary or danger")
        if "confirm" in element:
            confirm = element["confirm"]
            found += _text(confirm.get("title"), f"{where}.confirm.title", limit=100, plain_only=True)
            found += _text(confirm.get("text"), f"{where}.confirm.text", limit=300)
            found += _text(confirm.get("confirm"), f"{where}.confirm.confirm", limit=30, plain_only=True)
            found += _text(confirm.get("deny"), f"{where}.confirm.deny", limit=30, plain_only=True)
    elif kind == "image":
        if not element.get("image_url") and not element.get("slack_file"):
            found.append(f"{where}: image without image_url")
        if not element.get("alt_text"):
            found.append(f"{where}: image without alt_text")
    elif kind not in {"overflow", "static_select", "users_select", "datepicker", "checkboxes", "radio_buttons"}:
        found.append(f"{where}: unknown element type {kind!r}")
    return found


def problems(blocks: Any) -> list[str]:
    """Every way `blocks` breaks Slack's rules for a message (empty when it would be accepted)."""
    if not isinstance(blocks, list):
        return [f"blocks is {type(blocks).__name__}, not a list"]
    found: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        found.append(f"{len(blocks)} blocks, more than {MAX_BLOCKS}")
    block_ids: set[str] = set()
    action_ids: set[str] = set()
    for n, block in enumerate(blocks):
        where = f"blocks[{n}]"
        kind = block.get("type") if isinstance(block, dict) else None
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id is not None:
            if len(block_id) > 255:
                found.append(f"{where}: block_id longer than 255")
            if block_id in block_ids:
                found.append(f"{where}: block_id {block_id!r} repeated")
            block_ids.add(block_id)
        if kind == "header":
            found += _text(block.get("text"), f"{where}.text", limit=150, plain_only=True)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                found.append(f"{where}: section needs text or fields")
            if "text" in block:
                found += _text(block["text"], f"{where}.text", limit=3000)
            fields = block.get("fields", [])
            if len(fields) > 10:
                found.append(f"{where}: {len(fields)} fields, more than 10")
            for i, field in enumerate(fields):
                found += _text(field, f"{where}.fields[{i}]", limit=2000)
            if "accessory" in block:
                found += _element(block["accessory"], f"{where}.accessory", action_ids)
        elif kind == "context":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 10:
                found.append(f"{where}: context needs 1 to 10 elements, has {len(elements)}")
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    found += _element(element, f"{where}.elements[{i}]", action_ids)
                else:
                    found += _text(element, f"{where}.elements[{i}]", limit=3000)
        elif kind == "actions":
            elements = block.get("elements", [])
            if not 1 <= len(elements) <= 25:
                found.append(f"{where}: actions needs 1 to 25 elements, has {len(elements)}")
            for i, element in enumerate(elements):
                found += _element(element, f"{where}.elements[{i}]", action_ids)
        elif kind == "image":
            found += _element(block, where, action_ids)
        elif kind not in {"divider", "rich_text", "file"}:
            found.append(f"{where}: unknown block type {kind!r}")
    return found
