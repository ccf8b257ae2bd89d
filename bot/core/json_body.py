"""A webhook's JSON body read into its pydantic model, or the one-line reason it is not one (a 400's text).

Shared by the webhooks the bot serves (Alertmanager's, Flagger's): the same checks, the same words.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def parse_body(body: bytes, model: type[Model], *, what: str, expected: str = "") -> Model | str:
    """`body` as `model`; else why not, naming `what` the sender should send (and `expected`: its shape)."""
    hint = f"; {expected}" if expected else ""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return f"the body is not JSON{hint}"
    if not isinstance(raw, dict):
        return f"the body is not a JSON object{hint}"
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"not {what}: {where}: {first['msg']}"
