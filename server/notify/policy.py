"""Which lifecycle events page whom: outbox rows written in the event's own transaction.

The writer calls `queue_for_events` right after storing a batch of events and
`queue_reminders` on its periodic tick; the delivery threads (`outbox.py`) send the rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from server import store
from server.config import NotifyConfig
from server.detect.lifecycle import (
    ACKNOWLEDGED,
    ESCALATED,
    OPENED,
    REFIRED,
    REMINDER,
    RESOLVED,
    UNACKNOWLEDGED,
    Alert,
    AlertEvent,
)
from server.records import iso

SEND_ON = (OPENED, ESCALATED, REFIRED, UNACKNOWLEDGED, RESOLVED, REMINDER)


def wants_notification(
    event_type: str, alert: Alert, already_notified: bool, policy: NotifyConfig
) -> bool:
    """Whether a lifecycle event is worth a message: what on-call people must hear, no more.

    Opened/escalated/re-fired (also by an undone ack) alerts at a notified severity,
    resolutions of alerts that were announced, reminders; never silenced alerts, never low or
    medium ones on their own.
    """
    if event_type not in SEND_ON or alert.silenced:
        return False
    if event_type == RESOLVED:
        return already_notified
    if event_type == ESCALATED and already_notified:
        return False  # one message per incident: a rise in severity is no news once paged
    return alert.severity in policy.notify_severities


def event_payload(event_type: str, alert: Alert, detail: str, at: int) -> str:
    """What the outbox keeps to render the message later (an event snapshot)."""
    return json.dumps(
        {"type": event_type, "at": at, "detail": detail, "alert": alert.as_dict()},
        separators=(",", ":"),
    )


def event_from_payload(payload: str) -> AlertEvent:
    doc = json.loads(payload)
    alert = Alert(**doc["alert"])
    return AlertEvent(alert.id, doc["type"], doc["at"], alert, doc.get("detail", ""))


def queue_for_events(
    conn: sqlite3.Connection,
    events: Sequence[AlertEvent],
    event_ids: Sequence[int],
    channels: Sequence[str],
    policy: NotifyConfig,
    now: int,
) -> None:
    """Outbox rows, one per channel, for each stored event worth a message.

    An alert whose last abnormal minute is `history_age` behind `now` (an import, a backfill)
    is history: nobody is paged for it."""
    for event, event_id in zip(events, event_ids, strict=True):
        alert = event.alert
        if event.type == ACKNOWLEDGED:
            store.cancel_reminders(conn, alert.id)
        before = store.notified_at(conn, alert.id) is not None
        if not wants_notification(event.type, alert, before, policy):
            continue
        if not before and now - alert.last_seen > policy.history_age:
            continue
        due = now + (policy.group_wait if event.type == OPENED else 0)
        store.enqueue(
            conn,
            alert_id=alert.id,
            event_id=event_id,
            kind=event.type,
            channels=list(channels),
            payload=event_payload(event.type, alert, event.detail, event.at),
            now=now,
            due=due,
        )
        store.set_notified(conn, [alert.id], now)


def queue_reminders(
    conn: sqlite3.Connection, channels: Sequence[str], policy: NotifyConfig, now: int
) -> None:
    """Firing, unacknowledged alerts are re-sent every repeat_interval."""
    for alert in store.reminders_due(conn, now - policy.repeat_interval):
        detail = f"still firing since {iso(alert.first_seen)}"
        store.enqueue(
            conn,
            alert_id=alert.id,
            event_id=None,
            kind=REMINDER,
            channels=list(channels),
            payload=event_payload(REMINDER, alert, detail, now),
            now=now,
            due=now,
        )
        store.set_notified(conn, [alert.id], now)
