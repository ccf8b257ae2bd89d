"""The Slack app manifest matches the code: the command it answers, where Slack sends requests, the scopes it calls."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.core.config import BizraConfig

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "ops" / "slack" / "manifest.yaml"

# Every Web API method the bot may call, with the bot scope(s) Slack requires for it.
SCOPE_OF: dict[str, str | tuple[str, ...] | None] = {
    "chat_getPermalink": None,  # Slack requires no scope for it
    # The outbox looks for its own post after an unanswered attempt: public and private channels.
    "conversations_history": ("channels:history", "groups:history"),
    "conversations_replies": ("channels:history", "groups:history"),
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "files_upload_v2": "files:write",
    "usergroups_users_list": "usergroups:read",
    "views_publish": None,  # the Home tab (bot/features/home): Slack requires no scope for it
}
CALL = re.compile(r"\.((?:chat|files|usergroups|conversations|users|reactions|views|pins|bookmarks)_\w+)\(")


def _manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_manifest_declares_the_command_and_the_request_urls() -> None:
    manifest = _manifest()
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == BizraConfig().slack.command
    assert command["url"].endswith("/slack/events")
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": command["url"]}
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_scopes_are_exactly_what_the_code_calls() -> None:
    called = {match for path in (REPO / "bot").rglob("*.py") for match in CALL.findall(path.read_text("utf-8"))}
    unknown = called - set(SCOPE_OF)
    assert not unknown, f"add the scope these Web API calls need to SCOPE_OF and the manifest: {sorted(unknown)}"
    needed = {"commands"} | {one for method in called if (scope := SCOPE_OF[method])
                             for one in ((scope,) if isinstance(scope, str) else scope)}
    assert set(_manifest()["oauth_config"]["scopes"]["bot"]) == needed
