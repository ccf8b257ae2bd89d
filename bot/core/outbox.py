"""The outbox: every message the bot owes Slack, persisted until it is delivered or refused for good.

`OutboxPoster` is the `Poster` of `bizra serve`. Each post, update or chart upload is first written
as a row of the `outbox` table (in the bot's store), then sent through a `Transport` (Slack's Web
API, `bot/adapters/slack.py`):

- **In order per thread.** Rows of one thread (a top-level message and every reply to it or update
  of it) are sent in the order they were written (`id` is the sequence); a row waits while an
  earlier row of its thread is pending, so a reply never overtakes its parent and waits until the
  parent has a `ts`. A top-level post that could not be sent at once returns the placeholder
  `outbox:<id>`: replies and updates addressed to it are sent once the parent is.
- **Never sent twice.** A row is claimed (a lease of `LEASE_SECONDS`, in a transaction that locks the row:
  SQLite's `BEGIN IMMEDIATE`, PostgreSQL's `FOR UPDATE SKIP LOCKED`) before it is sent, by one thread of
  one process; a row enqueued again under the same `key` is the same row.
- **Looked for before it is sent again.** Every post carries Slack message metadata naming its row
  (`tag(...)`: `event_type` `bizra_outbox`, `outbox_id` and `outbox_key`). When an attempt's outcome is
  unknown — a timeout or a connection lost after the request went out (`AmbiguousDeliveryError`), or a
  sender whose lease ran out mid-send — the row is *unsure*, and before it is sent again the transport's
  `find` reads the channel or the thread since just before its first attempt: the message found is adopted
  (its ts recorded, nothing posted); not found, it is sent again. A lookup Slack refuses for good (no
  history scope) sends again at once; one that fails for a while holds the row (backoff) up to
  `MAX_LOOKUP_FAILURES` times, then sends again: a rare duplicate rather than a lost message.
- **Retried with backoff** on HTTP 5xx, timeouts and unreachable Slack (`TransientDeliveryError`):
  1 s, 2 s, 4 s … capped at `MAX_BACKOFF_SECONDS`, by the next post of its thread or the `outbox`
  background job; after `MAX_ATTEMPTS` it fails like a permanent error.
- **A permanent error** (channel not found, not in channel, …: `PermanentDeliveryError`) marks the
  row failed, is audited (`slack.delivery`, outcome `failed`) and told to whoever asked (an
  ephemeral through the command's `response_url`, else a DM, else the log). A synchronous post that
  fails for good raises, as it did before the outbox, so a caller that retries (the SLO watch) does.

Who asked is taken from `requested_by(...)`, which the Slack surface wraps around each command and
click; rows written outside one (scheduled status, alerts) have no requester and are logged.
"""

from __future__ import annotations

import base64
import contextvars
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.core.audit import AuditOutcome, record
from bot.core.delivery import Postable
from bot.core.migrations import Migration, Schema
from bot.core.rendering import Renderers
from bot.core.runtime import Job, Registry, Runtime
from bot.core.store import Connection, Database, inserted_id
from bot.core.store import Row as StoreRow

log = logging.getLogger(__name__)

PLACEHOLDER = "outbox:"
LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 12
MAX_BACKOFF_SECONDS = 300.0
KEEP_SENT_SECONDS = 7 * 24 * 3600.0
PRUNE_EVERY_SECONDS = 3600.0
SENDER_INTERVAL_SECONDS = 2.0
TAG_EVENT_TYPE = "bizra_outbox"  # the `event_type` of the metadata every outbox post carries
# The lookup reads from this long before the row's first attempt (the bot's clock against Slack's ts).
LOOKUP_MARGIN_SECONDS = 60.0
MAX_LOOKUP_FAILURES = 3  # transient lookup failures before an unsure row is sent again anyway

_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    thread TEXT NOT NULL,
    target TEXT,
    payload TEXT NOT NULL,
    requester TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL,
    last_error TEXT NOT NULL DEFAULT '',
    ts TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_thread ON outbox (thread, id);
CREATE INDEX IF NOT EXISTS outbox_open ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_ts ON outbox (channel, ts);
"""
SCHEMA = Schema("outbox", [
    Migration(1, _DDL),
    # first_attempt_at: where the lookup starts; unsure: an attempt's outcome is unknown (look before sending
    # again); lookup_failures: transient lookup failures in a row.
    Migration(2, columns={"outbox": {"first_attempt_at": "REAL", "unsure": "INTEGER NOT NULL DEFAULT 0",
                                     "lookup_failures": "INTEGER NOT NULL DEFAULT 0"}}),
    # claimed_by / claimed_as_leader: which process holds a row's lease, and whether it claimed it as the elected
    # leader (a new leader takes such a lease over at once: `Outbox._takes_over`).
    Migration(3, columns={"outbox": {"claimed_by": "TEXT", "claimed_as_leader": "INTEGER NOT NULL DEFAULT 0"}}),
])

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


class DeliveryError(Exception):
    """Slack did not take a message."""


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: HTTP 5xx, a timeout, Slack unreachable, rate limit exhausted."""


class AmbiguousDeliveryError(TransientDeliveryError):
    """The request went out and no answer came back (a timeout, the connection dropped): Slack may have
    taken it. A post is looked for before it is sent again."""


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: channel not found, not in channel, archived, invalid blocks, …"""


@dataclass(frozen=True)
class Requester:
    """Who a message is sent for: told when it cannot be delivered."""

    user_id: str = ""
    channel_id: str = ""
    response_url: str | None = None


_requester: contextvars.ContextVar[Requester | None] = contextvars.ContextVar("bizra_requester", default=None)
_message_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("bizra_message_key", default=None)


@contextmanager
def message_key(key: str) -> Iterator[None]:
    """The one message posted inside this block is the outbox row of `key`: posted again under the same key
    (a retry after the process died before it recorded the answer), it is the same row, sent once, and its
    ts is answered. Wrap exactly one post: every row written inside the block gets the key."""
    token = _message_key.set(key)
    try:
        yield
    finally:
        _message_key.reset(token)


@dataclass(frozen=True)
class Sender:
    """Who claims a row: one process of one replica (`name`), and whether it is the elected leader now."""

    name: str
    leader: bool = False


@contextmanager
def requested_by(user_id: str, *, channel_id: str = "", response_url: str | None = None) -> Iterator[None]:
    """Messages posted inside this block are on behalf of `user_id` (told if Slack refuses them)."""
    token = _requester.set(Requester(user_id=user_id, channel_id=channel_id, response_url=response_url))
    try:
        yield
    finally:
        _requester.reset(token)


@dataclass(frozen=True)
class Outgoing:
    """One row as the transport sends it: `thread_ts` / `ts` are real Slack timestamps by then."""

    id: int
    kind: str  # post | update | upload
    channel: str
    payload: dict[str, Any]
    thread_ts: str | None = None  # post, upload: the parent
    ts: str | None = None  # update: the message to change
    key: str = ""  # the row's idempotency key (a uuid unless the caller named one)


def tag(message: Outgoing) -> dict[str, Any]:
    """The Slack message metadata a post carries, so the outbox can find it again (`MessageFinder`).
    The key tells this store's row from another deployment's row of the same id in a shared channel."""
    return {"event_type": TAG_EVENT_TYPE, "event_payload": {"outbox_id": message.id, "outbox_key": message.key}}


def is_tagged(metadata: object, message: Outgoing) -> bool:
    """Whether a message's metadata (as conversations.history shows it) is `message`'s tag."""
    if not isinstance(metadata, dict) or metadata.get("event_type") != TAG_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return (isinstance(payload, dict) and str(payload.get("outbox_id")) == str(message.id)
            and payload.get("outbox_key") == message.key)


class Transport(Protocol):
    def send(self, message: Outgoing) -> str | None:
        """Deliver one message; returns its ts (post) or file id (upload). Raises `DeliveryError`
        (`AmbiguousDeliveryError` when the request went out and no answer came)."""
        ...

    def notify(self, requester: Requester, text: str) -> bool:
        """Tell someone a message could not be delivered; False when there was no way to."""
        ...


@runtime_checkable
class MessageFinder(Protocol):
    """A transport that can tell whether an earlier attempt of a post was taken (Slack's transport)."""

    def find(self, message: Outgoing, *, oldest: float) -> str | None:
        """The ts of the message carrying `tag(message)` posted after `oldest` (epoch seconds) in its
        channel (`thread_ts` None) or thread, None if there is none. Raises `DeliveryError`."""
        ...


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    channel: str
    thread: str
    target: str | None
    payload: dict[str, Any]
    requester: Requester | None
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str
    ts: str | None
    key: str = ""
    created_at: float = 0.0
    first_attempt_at: float | None = None
    unsure: bool = False  # an earlier attempt's outcome is unknown: look for it before sending again
    lookup_failures: int = 0

    @classmethod
    def of(cls, row: StoreRow) -> Row:
        asked = json.loads(row["requester"]) if row["requester"] else None
        return cls(id=row["id"], kind=row["kind"], channel=row["channel"], thread=row["thread"],
                   target=row["target"], payload=json.loads(row["payload"]),
                   requester=Requester(**asked) if asked else None, state=row["state"], attempts=row["attempts"],
                   next_attempt_at=row["next_attempt_at"], last_error=row["last_error"], ts=row["ts"],
                   key=row["key"], created_at=row["created_at"], first_attempt_at=row["first_attempt_at"],
                   unsure=bool(row["unsure"]), lookup_failures=row["lookup_failures"])


def backoff(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`: 1, 2, 4, … capped."""
    return float(min(MAX_BACKOFF_SECONDS, 2.0 ** max(0, attempts - 1)))


FailureListener = Callable[[Row, str], None]


def _takes_over(head: StoreRow, sender: Sender) -> bool:
    """A live lease another process took as the elected leader, now that this sender is the leader: taken over
    at once (as unsure: a post is looked for first) instead of after LEASE_SECONDS, so a leader killed mid-send
    does not hold up its threads (a page's re-pages) for two minutes.

    Safe: that process is no longer the leader, and its leadership ended on its own clock (`renew_deadline`)
    before the Lease could change hands (`lease_duration` after its last renewal; bot/core/leadership.py), so
    only a send it began before then and is still in flight can overlap, within `lease_duration - renew_deadline`
    of margin. A lease taken by a follower (a command's answer) or without an election is never taken over."""
    return (sender.leader and bool(head["claimed_as_leader"]) and bool(head["claimed_by"])
            and head["claimed_by"] != sender.name)


class _Hold:
    """`Outbox._look_for`'s answer when the lookup failed for now: the row waits (backoff) and looks again."""


_HOLD = _Hold()


class Outbox:
    """The `outbox` table and its sender. `now` is wall-clock seconds (backoff is about Slack, not the
    release's clock); tests pass their own."""

    def __init__(self, db: Database, transport: Transport, *, now: Callable[[], float] = time.time,
                 on_failed: FailureListener | None = None, sender: Callable[[], Sender] | None = None) -> None:
        self._db = db
        self._transport = transport
        self._now = now
        self._on_failed = on_failed
        self._sender = sender or (lambda: Sender(name=""))
        self._pruned_at = 0.0
        db.ensure(SCHEMA)

    # -- writing --------------------------------------------------------------------------------

    def enqueue(self, *, kind: str, channel: str, payload: dict[str, Any], parent: str | None = None,
                key: str | None = None, requester: Requester | None = None) -> int:
        """Write one row (the same row again for a `key` already written, tried again if it had failed for good);
        returns its id."""
        key = key or _message_key.get() or uuid.uuid4().hex
        asked = requester if requester is not None else _requester.get()
        now = self._now()
        with self._db.transaction() as connection:
            existing = connection.execute("SELECT id, state FROM outbox WHERE key = ?", (key,)).fetchone()
            if existing is not None:
                if existing["state"] == FAILED:  # refused for good, posted again by a caller that retries (the
                    # SLO watch's next tick): the same row tries again; pending, in flight or sent, it is left as is
                    connection.execute("UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = ?, "
                                       "last_error = '', payload = ? WHERE id = ?",
                                       (PENDING, now, json.dumps(payload), existing["id"]))
                return int(existing["id"])
            thread = self._thread_of(connection, channel, parent) if parent else ""
            row_id = inserted_id(
                connection,
                "INSERT INTO outbox (key, kind, channel, thread, target, payload, requester, state, attempts, "
                "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                (key, kind, channel, thread, parent, json.dumps(payload),
                 json.dumps(asked.__dict__) if asked else None, PENDING, now, now),
            )
            if not thread:  # a top-level message starts its own thread
                connection.execute("UPDATE outbox SET thread = ? WHERE id = ?", (f"{PLACEHOLDER}{row_id}", row_id))
        return row_id

    @staticmethod
    def _thread_of(connection: Connection, channel: str, parent: str) -> str:
        """The ordering key of a reply to / update of `parent` (a placeholder or a Slack ts)."""
        if parent.startswith(PLACEHOLDER):
            row = connection.execute("SELECT thread FROM outbox WHERE id = ?",
                                     (int(parent.removeprefix(PLACEHOLDER)),)).fetchone()
            return str(row["thread"]) if row else parent
        sent = connection.execute("SELECT thread FROM outbox WHERE channel = ? AND ts = ? ORDER BY id LIMIT 1",
                                  (channel, parent)).fetchone()
        return str(sent["thread"]) if sent else f"{channel}:{parent}"

    # -- reading --------------------------------------------------------------------------------

    def get(self, row_id: int) -> Row:
        found = self._db.connect().execute("SELECT * FROM outbox WHERE id = ?", (row_id,)).fetchone()
        if found is None:
            raise KeyError(row_id)
        return Row.of(found)

    def rows(self) -> list[Row]:
        return [Row.of(r) for r in self._db.connect().execute("SELECT * FROM outbox ORDER BY id").fetchall()]

    def resolve(self, ref: str | None) -> str | None:
        """A placeholder's real ts once its message is sent (a real ts, or None, as it is)."""
        if not ref or not ref.startswith(PLACEHOLDER):
            return ref
        found = self._db.connect().execute("SELECT state, ts FROM outbox WHERE id = ?",
                                           (int(ref.removeprefix(PLACEHOLDER)),)).fetchone()
        return str(found["ts"]) if found is not None and found["state"] == SENT and found["ts"] else ref

    # -- sending --------------------------------------------------------------------------------

    def drain_thread(self, thread: str) -> None:
        """Send the thread's due rows in order, stopping at the first that must wait."""
        while True:
            row = self._claim_head(thread)
            if row is None:
                return
            self._send(row)

    def pump(self) -> int:
        """Send what is due in every thread (the background job); returns how many threads were tried."""
        now = self._now()
        connection = self._db.connect()
        threads = [str(r["thread"]) for r in connection.execute(
            "SELECT DISTINCT thread FROM outbox WHERE (state = ? AND next_attempt_at <= ?) "
            "OR (state = ? AND claimed_until <= ?)", (PENDING, now, SENDING, now)).fetchall()]
        for thread in threads:
            try:
                self.drain_thread(thread)
            except Exception:  # one thread's trouble must not hold up the others
                log.exception("outbox: sending thread %s failed", thread)
        if now - self._pruned_at > PRUNE_EVERY_SECONDS:  # delivered and failed rows are kept a week
            self._pruned_at = now
            with self._db.transaction() as write:
                write.execute("DELETE FROM outbox WHERE state IN (?, ?) AND created_at < ?",
                              (SENT, FAILED, now - KEEP_SENT_SECONDS))
        return len(threads)

    def _claim_head(self, thread: str) -> Row | None:
        """Claim the thread's first open row if it is due and nobody holds it.

        The head row is locked while it is claimed; another sender finds it locked and skips it (PostgreSQL:
        `FOR UPDATE SKIP LOCKED`, no waiting; SQLite: one writer at a time anyway), never taking a later
        row of the thread instead, so a thread stays in order whichever replica sends."""
        now = self._now()
        sender = self._sender()
        with self._db.transaction(serialize=False) as connection:
            head = connection.execute(
                "SELECT * FROM outbox WHERE id = (SELECT MIN(id) FROM outbox WHERE thread = ? AND state IN (?, ?))"
                + self._db.skip_locked, (thread, PENDING, SENDING)).fetchone()
            if head is None or head["state"] not in (PENDING, SENDING):
                return None  # nothing open, another sender holds the head, or it was just sent
            if head["state"] == SENDING and (head["claimed_until"] or 0) > now and not _takes_over(head, sender):
                return None  # another sender is on it
            if head["state"] == PENDING and head["next_attempt_at"] > now:
                return None  # backing off; later rows of the thread wait behind it
            # A lease that ran out: its sender died mid-send, perhaps after Slack took the post.
            unsure = 1 if head["state"] == SENDING or head["unsure"] else 0
            connection.execute("UPDATE outbox SET state = ?, claimed_until = ?, attempts = attempts + 1, "
                               "first_attempt_at = COALESCE(first_attempt_at, ?), unsure = ?, claimed_by = ?, "
                               "claimed_as_leader = ? WHERE id = ?",
                               (SENDING, now + LEASE_SECONDS, now, unsure, sender.name, int(sender.leader),
                                head["id"]))
            claimed = Row.of(head)
        return Row(**{**claimed.__dict__, "unsure": bool(unsure),
                      "first_attempt_at": claimed.first_attempt_at or now})

    def _send(self, row: Row) -> None:
        target = self.resolve(row.target)
        if target is not None and target.startswith(PLACEHOLDER):
            # Its parent is no longer pending (rows of a thread go in order) and has no ts: it failed.
            self._fail(row, "the message it belongs to could not be posted")
            return
        message = Outgoing(id=row.id, kind=row.kind, channel=row.channel, payload=row.payload,
                           thread_ts=target if row.kind != "update" else None,
                           ts=target if row.kind == "update" else None, key=row.key)
        if row.unsure and row.kind == "post":  # an update is idempotent; an upload cannot be looked for
            earlier = self._look_for(row, message)
            if isinstance(earlier, _Hold):
                return
            if earlier is not None:
                log.info("outbox: post %d to %s was taken by an earlier attempt (ts %s): not sent again", row.id,
                         row.channel, earlier)
                self._sent(row, earlier)
                return
        try:
            ts = self._transport.send(message)
        except PermanentDeliveryError as exc:
            self._fail(row, str(exc))
            return
        except Exception as exc:  # transient or unknown: keep it, try again after a while
            self._retry(row, f"{type(exc).__name__}: {exc}" if not isinstance(exc, DeliveryError) else str(exc),
                        unsure=row.unsure or isinstance(exc, AmbiguousDeliveryError))
            return
        self._sent(row, ts)

    def _look_for(self, row: Row, message: Outgoing) -> str | _Hold | None:
        """The ts of an earlier attempt Slack took; None: send again; `_HOLD`: the lookup failed for now
        (the row backs off and the lookup is tried again)."""
        if not isinstance(self._transport, MessageFinder):
            return None  # a transport that cannot look: send again, as before there was a lookup
        oldest = (row.first_attempt_at or row.created_at) - LOOKUP_MARGIN_SECONDS
        try:
            found = self._transport.find(message, oldest=oldest)
        except PermanentDeliveryError as exc:  # e.g. missing_scope: no way to tell, and waiting will not help
            log.warning("outbox: cannot tell whether post %d to %s was taken (%s); sending it again", row.id,
                        row.channel, exc)
            return None
        except Exception as exc:  # rate limited, 5xx, timeout: look again after a while, a few times
            if row.lookup_failures + 1 < MAX_LOOKUP_FAILURES:
                self._retry(row, f"looking for an earlier attempt failed: {exc}", unsure=True, lookup_failed=True)
                return _HOLD
            log.warning("outbox: looking for post %d to %s failed %d times (%s); sending it again", row.id,
                        row.channel, row.lookup_failures + 1, exc)
            found = None
        if row.lookup_failures:  # counted in a row: the next unsure attempt gets its own tries
            with self._db.transaction(serialize=False) as connection:  # a row this sender holds
                connection.execute("UPDATE outbox SET lookup_failures = 0 WHERE id = ?", (row.id,))
        return found

    def _sent(self, row: Row, ts: str | None) -> None:
        payload = row.payload
        if row.kind == "upload":  # the chart's bytes are not kept once delivered
            payload = {k: v for k, v in payload.items() if k != "png"}
        with self._db.transaction(serialize=False) as connection:  # a row this sender holds: no wider lock
            connection.execute("UPDATE outbox SET state = ?, ts = ?, claimed_until = NULL, last_error = '', "
                               "payload = ?, unsure = 0 WHERE id = ?", (SENT, ts, json.dumps(payload), row.id))

    def _retry(self, row: Row, error: str, *, unsure: bool = False, lookup_failed: bool = False) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            self._fail(row, f"{error} (gave up after {attempts} attempts)")
            return
        delay = backoff(attempts)
        log.warning("outbox: %s to %s not delivered (%s); attempt %d in %g s", row.kind, row.channel, error,
                    attempts + 1, delay)
        with self._db.transaction(serialize=False) as connection:  # a row this sender holds: no wider lock
            connection.execute("UPDATE outbox SET state = ?, next_attempt_at = ?, claimed_until = NULL, "
                               "last_error = ?, unsure = ?, lookup_failures = lookup_failures + ? WHERE id = ?",
                               (PENDING, self._now() + delay, error, int(unsure), int(lookup_failed), row.id))

    def _fail(self, row: Row, error: str) -> None:
        with self._db.transaction(serialize=False) as connection:  # a row this sender holds: no wider lock
            connection.execute("UPDATE outbox SET state = ?, claimed_until = NULL, last_error = ? WHERE id = ?",
                               (FAILED, error, row.id))
        failed = Row(**{**row.__dict__, "state": FAILED, "last_error": error})
        log.error("outbox: %s to %s refused for good: %s", row.kind, row.channel, error)
        if self._on_failed is not None:
            try:
                self._on_failed(failed, error)
            except Exception:
                log.exception("outbox: reporting the failed delivery %d failed", row.id)
        self._tell(failed, error)

    def _tell(self, row: Row, error: str) -> None:
        what = row.payload.get("text") or row.payload.get("title") or row.kind
        text = (f":warning: A message the bot owed <#{row.channel}> could not be delivered: {error}. "
                f"It said: {str(what)[:300]}")
        asked = row.requester
        if asked is not None and (asked.response_url or asked.user_id):
            try:
                if self._transport.notify(asked, text):
                    return
            except Exception:
                log.exception("outbox: telling %s about the failed delivery failed", asked.user_id)
        log.error("outbox: nobody to tell about message %d: %s", row.id, text)


class OutboxPoster:
    """A `Poster` whose every message goes through the outbox (sent at once when its thread allows)."""

    def __init__(self, outbox: Outbox, renderers: Renderers, *, default_channel: str) -> None:
        self.outbox = outbox
        self._renderers = renderers
        self._default = default_channel

    def _channel(self, channel: str | None) -> str:
        chosen = channel or self._default
        if not chosen:
            raise RuntimeError("No channel to post to: set slack.release_channel in the config.")
        return chosen

    def _payload(self, result: Postable) -> dict[str, Any]:
        return {"text": self._renderers.fallback(result), "blocks": self._renderers.blocks(result)}

    def _deliver(self, row_id: int) -> Row:
        self.outbox.drain_thread(self.outbox.get(row_id).thread)
        row = self.outbox.get(row_id)
        if row.state == FAILED:
            raise PermanentDeliveryError(row.last_error)
        return row

    def post(self, result: Postable, *, channel: str | None = None, thread_ts: str | None = None) -> str | None:
        target = self._channel(channel)
        row = self._deliver(self.outbox.enqueue(kind="post", channel=target, payload=self._payload(result),
                                                parent=self.outbox.resolve(thread_ts)))
        if row.state == SENT:
            return row.ts
        # Not sent yet: a top-level message answers its placeholder, so replies can follow it.
        return f"{PLACEHOLDER}{row.id}" if thread_ts is None else None

    def update(self, ts: str, result: Postable, *, channel: str | None = None) -> None:
        target = self._channel(channel)
        self._deliver(self.outbox.enqueue(kind="update", channel=target, payload=self._payload(result),
                                          parent=self.outbox.resolve(ts)))

    def upload_png(self, png: bytes, *, filename: str, title: str, channel: str | None = None,
                   thread_ts: str | None = None) -> str | None:
        target = self._channel(channel)
        payload = {"png": base64.b64encode(png).decode(), "filename": filename, "title": title, "text": title}
        row = self._deliver(self.outbox.enqueue(kind="upload", channel=target, payload=payload,
                                                parent=self.outbox.resolve(thread_ts)))
        return row.ts if row.state == SENT else None

    def pump(self) -> int:
        return self.outbox.pump()


def audit_failure(runtime: Runtime) -> FailureListener:
    """Record a message Slack refused for good in the audit log."""

    def listener(row: Row, error: str) -> None:
        asked = row.requester
        record(runtime, actor=asked.user_id if asked and asked.user_id else "bizra-bot", channel=row.channel,
               action="slack.delivery", target=f"{row.kind} #{row.id} to {row.channel}", before="",
               after=str(row.payload.get("text") or row.payload.get("title") or "")[:500],
               outcome=AuditOutcome.FAILED, detail=error)

    return listener


def _send_due(runtime: Runtime, at: datetime) -> None:
    poster = runtime.poster.get()
    if isinstance(poster, OutboxPoster):
        poster.pump()


def register(registry: Registry) -> None:
    """The background sender: retries what is due every couple of seconds (`bizra serve`)."""
    registry.add_schema(SCHEMA)
    registry.add_job(Job(name="outbox", body=_send_due, interval=lambda config: SENDER_INTERVAL_SECONDS))
