"""Flagger's webhook protocol as Flagger speaks it (pkg/controller/webhook.go), and nothing more.

What flows through: the body of one `POST /webhooks/flagger/<hook>` comes in, a parsed
`HookCall` (or the reason it is not one) and the authentication verdict go out; `Answer` is what
the bot says back. Flagger's rules, which every answer here follows:

- the body is JSON `{name, namespace, phase, checksum, metadata}`; `checksum` hashes the Canary's
  `status.lastAppliedSpec` and `trackedConfigs` (a new revision, a new checksum); `metadata` is the
  webhook's own string map from the Canary spec (where the shared token travels). Event hooks carry
  `metadata.eventMessage`, `eventType` and `timestamp` (ms) merged over the webhook's metadata;
- a status ≤ 202 lets Flagger go on; anything above halts it, and the body becomes the text of
  Flagger's Kubernetes event ("Halt … advancement waiting for approval …"), so every refusal here is
  one line that says why and what to do;
- for `rollback` a 2xx means "roll back now" and anything else "do not";
- Flagger times a hook out after the webhook's `timeout` (default 10 s; event hooks 5 s) and asks
  again on its next analysis interval, so an answer must be quick and the same when asked twice.

Authentication: Flagger cannot sign requests; the webhook's `metadata` (literal strings in the
Canary) carries a token under `canary.flagger.token_key`, compared in constant time with the value
of the environment variable `canary.flagger.token_env`. Nothing of the token is ever logged.
"""

from __future__ import annotations

import hmac
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.json_body import parse_body

MAX_BODY_BYTES = 64 * 1024  # Flagger's payloads are a few hundred bytes; metadata is the Canary author's


class Hook(StrEnum):
    """The webhook types the bot serves, by their path under /webhooks/flagger/."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    ROLLBACK = "rollback"
    EVENT = "event"


class HookCall(BaseModel):
    """One webhook call's payload (Flagger's CanaryWebhookPayload)."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field(min_length=1, max_length=63)
    phase: str = Field(default="", max_length=64)
    checksum: str = Field(default="", max_length=256)
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("metadata", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        if value is None:
            return {}
        return value

    @property
    def event_message(self) -> str:
        return self.metadata.get("eventMessage", "")

    @property
    def event_type(self) -> str:
        return self.metadata.get("eventType", "")


class Answer(BaseModel):
    """What the bot answers Flagger: the status (≤ 202 proceeds) and one line for Flagger's event."""

    status: int
    text: str

    @property
    def proceeds(self) -> bool:
        return self.status <= 202


def proceed(text: str) -> Answer:
    return Answer(status=200, text=text)


def halt(text: str, *, status: int = 409) -> Answer:
    """A refusal Flagger shows as its event; 409: the run's state does not allow it (yet)."""
    return Answer(status=status, text=text)


def parse(body: bytes) -> HookCall | str:
    """The payload, or why it is not one (the 400's text)."""
    return parse_body(body, HookCall, what="a Flagger webhook payload",
                      expected="Flagger sends {name, namespace, phase, checksum, metadata}")


def authorized(call: HookCall, *, key: str, expected: str) -> bool:
    """The token in `metadata[key]` equals `expected` (constant time); an empty expected token never matches."""
    given = call.metadata.get(key, "")
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def without_secrets(call: HookCall, *, key: str) -> dict[str, str]:
    """The metadata as it may be logged or shown: the token's value never appears."""
    return {k: ("<redacted>" if k == key else v[:200]) for k, v in call.metadata.items()}
