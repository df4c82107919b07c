"""Rendering of alert events into `Message`s: a triage-ready subject, plain text, HTML, JSON.

Every dynamic value is escaped where it lands (HTML here; Telegram-HTML in the Telegram channel).
Alert times are epoch seconds and are shown as ISO 8601 UTC.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from server.detect.config import SEVERITIES
from server.detect.lifecycle import (
    ACCEPTED,
    ACKNOWLEDGED,
    ESCALATED,
    FIRING,
    NO_DATA,
    OPENED,
    REFIRED,
    REMINDER,
    RESOLVED,
    UNACKNOWLEDGED,
    UPDATED,
    AlertEvent,
    expected_text,
)
from server.notify.base import Message

PAYLOAD_VERSION = 1
_SEVERITY_ORDER = {name: rank for rank, name in enumerate(SEVERITIES)}
_SEVERITY_COLOUR = {"high": "#c0392b", "medium": "#d68910", "low": "#2e86c1"}
_KIND_WORDS = {
    "spike": "count well above its baseline",
    "drop": "count well below its baseline",
    "shift": "sustained change in rate",
    NO_DATA: "no data received",
}
_LEAD = {
    OPENED: "New alert #{id}: {what}.",
    ESCALATED: "Alert #{id} escalated to {severity}: {what}.",
    REFIRED: "Alert #{id} is firing again: it was acknowledged but is still open.",
    REMINDER: "Reminder: alert #{id} has been firing for {age} and is not acknowledged.",
    RESOLVED: "Alert #{id} ({name}) resolved after {duration}.",
    ACKNOWLEDGED: "Alert #{id} ({name}) acknowledged.",
    UNACKNOWLEDGED: "Alert #{id} is no longer acknowledged and fires again.",
    UPDATED: "Alert #{id} updated.",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_SUBJECT = 200


def iso(ts: int | float | None) -> str:
    """Epoch seconds as ISO 8601 UTC (`2025-07-12T13:45:00Z`); empty for None."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """A short human duration: `17 min`, `1 h 5 min`, `2 d 3 h` (at least `1 min`)."""
    minutes = max(1, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def status_label(status: str) -> str:
    """How a status is named in messages (`_total` is the whole feed)."""
    return "all traffic" if status == "_total" else status


def _one_line(text: str, limit: int = _MAX_SUBJECT) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline(event: AlertEvent) -> str:
    """`denied spike: 54/min vs 6.2 expected` or `denied: no data for 5 min, ...`."""
    alert = event.alert
    label = status_label(alert.status)
    if alert.kind == NO_DATA:
        detail = event.detail.split(": ", 1)[-1] if "no data" in event.detail else ""
        return f"{label}: {detail}" if detail.startswith("no data") else f"{label}: no data"
    return (
        f"{label} {alert.kind}: {alert.peak_count}/min vs {expected_text(alert.expected)} expected"
    )


def _name(event: AlertEvent) -> str:
    """`denied spike` / `all traffic no data`."""
    alert = event.alert
    kind = "no data" if alert.kind == NO_DATA else alert.kind
    return f"{status_label(alert.status)} {kind}"


def _subject(event: AlertEvent) -> str:
    alert = event.alert
    tag = alert.severity.upper()
    kind = event.type
    if kind == RESOLVED:
        end = alert.resolved_at if alert.resolved_at is not None else event.at
        if event.detail.startswith(ACCEPTED):  # no all-clear: say it is still away
            body = f"{_name(event)} {event.detail}"
        else:
            body = f"{_name(event)} resolved after {duration(end - alert.first_seen)}"
        tag = "RESOLVED"
    elif kind == ACKNOWLEDGED:
        who = alert.acknowledged_by
        body = f"{_name(event)} acknowledged" + (f" by {who}" if who else "")
        tag = "ACK"
    elif kind == ESCALATED:
        body = f"escalated: {_headline(event)}"
    elif kind == REFIRED:
        body = f"firing again: {_headline(event)}"
    elif kind == REMINDER:
        body = f"still firing after {duration(event.at - alert.first_seen)}: {_headline(event)}"
    elif kind == UNACKNOWLEDGED:
        body = f"unacknowledged: {_headline(event)}"
    elif kind == UPDATED:
        body = f"{_headline(event)} ({event.detail})" if event.detail else _headline(event)
    else:
        body = _headline(event)
    return _one_line(f"[txmon {tag}] {body}")


def _rows(event: AlertEvent) -> list[tuple[str, str]]:
    alert = event.alert
    rows = [
        ("Alert", f"#{alert.id}"),
        ("Status", status_label(alert.status)),
        ("Kind", f"{alert.kind} ({_KIND_WORDS.get(alert.kind, alert.kind)})"),
        ("Severity", alert.severity),
        ("State", alert.state + (" (silenced)" if alert.silenced else "")),
    ]
    if alert.kind != NO_DATA:
        rows.append(
            (
                "Peak",
                f"{alert.peak_count}/min vs {expected_text(alert.expected)} expected "
                f"(score {alert.peak_score:.1f})",
            )
        )
    rows.append(("First seen", iso(alert.first_seen)))
    rows.append(("Last seen", iso(alert.last_seen)))
    if alert.resolved_at is not None:
        rows.append(("Resolved", iso(alert.resolved_at)))
    if alert.acknowledged_by:
        ack = f"{alert.acknowledged_by} at {iso(alert.acknowledged_at)}"
        rows.append(("Acknowledged", ack + (f": {alert.ack_note}" if alert.ack_note else "")))
    event_text = f"{event.type} at {iso(event.at)}"
    rows.append(("Event", event_text + (f" ({event.detail})" if event.detail else "")))
    return rows


def _lead(event: AlertEvent) -> str:
    alert = event.alert
    template = _LEAD.get(event.type, "Alert #{id}: " + event.type + ".")
    end = alert.resolved_at if alert.resolved_at is not None else event.at
    what = (
        f"{status_label(alert.status)}: no data"
        if alert.kind == NO_DATA
        else f"{status_label(alert.status)} {alert.kind}, {alert.peak_count}/min against "
        f"{expected_text(alert.expected)} expected"
    )
    return template.format(
        id=alert.id,
        name=_name(event),
        what=what,
        severity=alert.severity,
        age=duration(event.at - alert.first_seen),
        duration=duration(end - alert.first_seen),
    )


def _footer(alert_id: int | None) -> list[str]:
    lines = []
    if alert_id is not None:
        lines.append(f"Acknowledge: txmon dashboard, or POST /api/v1/alerts/{alert_id}/ack")
    return lines


def _plain(lead: str, rows: list[tuple[str, str]], footer: list[str]) -> str:
    width = max((len(k) for k, _ in rows), default=0) + 1
    lines = [lead, ""]
    lines += [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    if footer:
        lines += ["", *footer]
    return "\n".join(lines)


def _html_doc(title: str, colour: str, sections: list[str], footer: list[str]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>' + esc(title) + "</title></head>",
        '<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; '
        'font-size: 14px; color: #222;">',
        f'<div style="border-left: 4px solid {colour}; padding-left: 12px;">',
        *sections,
        "</div>",
    ]
    if footer:
        parts.append('<p style="color: #666; font-size: 12px;">')
        parts.append("<br>".join(esc(line) for line in footer))
        parts.append("</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_section(lead: str, rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    cells = "".join(
        f'<tr><th style="text-align: left; padding: 2px 12px 2px 0; color: #555;">{esc(k)}</th>'
        f'<td style="padding: 2px 0;">{esc(v)}</td></tr>'
        for k, v in rows
    )
    return f"<p><strong>{esc(lead)}</strong></p>\n<table>{cells}</table>"


def _colour(event_type: str, severity: str) -> str:
    if event_type == RESOLVED:
        return "#27ae60"
    if event_type == ACKNOWLEDGED:
        return "#7f8c8d"
    return _SEVERITY_COLOUR.get(severity, "#7f8c8d")


def _event_payload(event: AlertEvent) -> dict[str, Any]:
    alert = event.alert.as_dict()
    for key in ("first_seen", "last_seen", "resolved_at", "acknowledged_at"):
        value = alert.get(key)
        alert[key + "_iso"] = iso(value) if isinstance(value, int | float) else None
    alert["status_label"] = status_label(event.alert.status)
    return {
        "event": event.type,
        "at": event.at,
        "at_iso": iso(event.at),
        "detail": event.detail,
        "alert_id": event.alert_id,
        "alert": alert,
    }


def render(event: AlertEvent) -> Message:
    """One event (opened, escalated, refired, reminder, resolved, acknowledged...) as a Message."""
    subject = _subject(event)
    lead = _lead(event)
    rows = _rows(event)
    if event.type == RESOLVED:  # short: what it was and how long it lasted
        keep = {"Alert", "Status", "Kind", "Peak", "First seen", "Resolved", "Event"}
        rows = [r for r in rows if r[0] in keep]
    footer = _footer(event.alert_id if event.alert.state == FIRING else None)
    text = _plain(lead, rows, footer)
    colour = _colour(event.type, event.alert.severity)
    body = _html_doc(subject, colour, [_html_section(lead, rows)], footer)
    payload = {
        "source": "txmon",
        "version": PAYLOAD_VERSION,
        "test": False,
        **_event_payload(event),
        "subject": subject,
        "text": f"{subject}\n{text}",
    }
    return Message(subject=subject, text=text, html=body, payload=payload)


def render_group(events: list[AlertEvent]) -> Message:
    """Several alerts (usually opening together) as one message; one event renders as `render`."""
    if not events:
        raise ValueError("render_group needs at least one event")
    if len(events) == 1:
        return render(events[0])
    ordered = sorted(events, key=lambda e: (-_SEVERITY_ORDER.get(e.alert.severity, 0), e.alert_id))
    top = ordered[0].alert.severity
    names = [_name(e) for e in ordered]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    opened = all(e.type == OPENED for e in ordered)
    verb = OPENED if opened else "changed"
    subject = _one_line(f"[txmon {top.upper()}] {len(ordered)} alerts {verb}: {shown}")
    lead = f"{len(ordered)} alerts {verb} together."
    text_parts = [lead]
    sections = [f"<p><strong>{html.escape(lead)}</strong></p>"]
    for event in ordered:
        item_lead = _lead(event)
        rows = [r for r in _rows(event) if r[0] in ("Kind", "Peak", "First seen", "Event")]
        text_parts.append("")
        text_parts.append(f"{event.alert.severity.upper()} #{event.alert_id} {_headline(event)}")
        text_parts += [f"  {k}: {v}" for k, v in rows]
        sections.append(_html_section(item_lead, rows))
    ids = [e.alert_id for e in ordered if e.alert.state == FIRING]
    footer = []
    if ids:
        footer.append(
            "Acknowledge: txmon dashboard, or POST /api/v1/alerts/<id>/ack for "
            + ", ".join(f"#{i}" for i in ids)
        )
    if footer:
        text_parts += ["", *footer]
    text = "\n".join(text_parts)
    body = _html_doc(subject, _colour(OPENED, top), sections, footer)
    payload = {
        "source": "txmon",
        "version": PAYLOAD_VERSION,
        "test": False,
        "event": "grouped",
        "at": max(e.at for e in ordered),
        "at_iso": iso(max(e.at for e in ordered)),
        "events": [_event_payload(e) for e in ordered],
        "subject": subject,
        "text": f"{subject}\n{text}",
    }
    return Message(subject=subject, text=text, html=body, payload=payload)


def render_test(now: int) -> Message:
    """A clearly marked test notification (no alert behind it)."""
    subject = "[txmon TEST] Test notification: this channel works"
    lead = "TEST: this is a test message from txmon. No alert is firing because of it."
    rows = [("Sent", iso(now)), ("Why", "someone asked txmon to test its notification channels")]
    footer: list[str] = []
    text = _plain(lead, rows, footer)
    body = _html_doc(subject, "#7f8c8d", [_html_section(lead, rows)], footer)
    payload = {
        "source": "txmon",
        "version": PAYLOAD_VERSION,
        "test": True,
        "event": "test",
        "at": now,
        "at_iso": iso(now),
        "subject": subject,
        "text": f"{subject}\n{text}",
    }
    return Message(subject=subject, text=text, html=body, payload=payload, test=True)


def render_degraded(now: int, receiver: str, reason: str) -> Message:
    """A receiver's direct warning that it cannot reach its database (no outbox behind it:
    the outbox lives in that database)."""
    subject = "[txmon DEGRADED] txmon degraded: database unreachable"
    lead = (
        f"The txmon receiver {receiver} cannot reach its database: it refuses records "
        "(503) and no alert can open or be delivered until the database is back."
    )
    rows = [("Since", iso(now)), ("Receiver", receiver), ("Error", reason)]
    footer = ["Sent directly by each receiver that sees it, at most once per interval."]
    text = _plain(lead, rows, footer)
    body = _html_doc(subject, _SEVERITY_COLOUR["high"], [_html_section(lead, rows)], footer)
    payload = {
        "source": "txmon",
        "version": PAYLOAD_VERSION,
        "test": False,
        "event": "degraded",
        "at": now,
        "at_iso": iso(now),
        "receiver": receiver,
        "subject": subject,
        "text": f"{subject}\n{text}",
    }
    return Message(subject=subject, text=text, html=body, payload=payload)
