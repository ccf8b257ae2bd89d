"""The rollback-expiry job: a confirmation nobody decided loses its buttons when it expires.

Every `EXPIRY_CHECK_SECONDS` the job marks pending confirmations past their expiry `expired`
(confirmations.expire_due, one conditional UPDATE each) and edits each one's message
(`chat.update` through the poster, so through the outbox) to the same change marked "Expired at
<time>" without its actions block, then records that the message was edited. An edit Slack could
not take now is tried again by the next run (one refused for good, a deleted message, is not); a
crash between the edit and the record edits it once more (the same words). A click on it before the
job ran is refused as expired and edits the message the same way.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.core.outbox import PermanentDeliveryError
from bot.core.runtime import Runtime
from bot.features.rollback import confirmations as confirmations
from bot.features.rollback.render import RollbackExpired

log = logging.getLogger(__name__)

# How often expired confirmations are looked for: a message keeps its (refusing) buttons at most
# this long after its expiry. A constant: no deployment needs another bound on a ten-minute expiry.
EXPIRY_CHECK_SECONDS = 15.0


def expire(runtime: Runtime, *, at: datetime) -> list[str]:
    """The job body: expire what is due and edit its messages; the ids whose message was edited."""
    due = confirmations.expire_due(runtime, now=at)
    if not due:
        return []
    poster = runtime.poster.get()
    edited: list[str] = []
    for expired in due:
        try:
            poster.update(expired.ts, RollbackExpired(plan=expired.plan), channel=expired.channel)
        except PermanentDeliveryError as exc:  # the message is gone (deleted, channel archived): nothing to edit
            log.warning("expired rollback %s: its message cannot be edited: %s", expired.plan.id, exc)
        except Exception as exc:  # Slack is away: the next run tries again
            log.warning("could not remove the buttons of expired rollback %s: %s", expired.plan.id, exc)
            continue
        else:
            edited.append(expired.plan.id)
        confirmations.expiry_shown(runtime, expired.plan.id, at=at)
    return edited
