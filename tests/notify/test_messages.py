"""Rendering of alert events: subjects a person can triage from, escaping, grouping, tests."""

from __future__ import annotations

import json
from dataclasses import replace
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from server.detect.lifecycle import Alert, AlertEvent
from server.notify.render import duration, expected_text, iso, render, render_group, render_test

T0 = 1_714_564_980  # 2024-05-01T12:03:00Z


def make_event(
    type: str = "opened",
    *,
    at: int | None = None,
    detail: str = "spike: 54 against 6.2 expected",
    **alert_fields: object,
) -> AlertEvent:
    """An event for a denied spike, with any alert field overridden."""
    fields: dict[str, object] = {
        "id": 12,
        "status": "denied",
        "kind": "spike",
        "state": "firing",
        "severity": "high",
        "first_seen": T0,
        "last_seen": T0 + 240,
        "peak_count": 54,
        "peak_score": 9.137,
        "expected": 6.2,
    }
    fields.update(alert_fields)
    alert = Alert(**fields)  # type: ignore[arg-type]
    return AlertEvent(alert.id, type, T0 + 240 if at is None else at, alert, detail)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_opened_subject_is_triage_ready() -> None:
    message = render(make_event())
    assert message.subject == "[txmon HIGH] denied spike: 54/min vs 6.2 expected"
    assert "New alert #12" in message.text
    assert "2024-05-01T12:03:00Z" in message.text  # first seen, ISO UTC
    assert "2024-05-01T12:07:00Z" in message.text  # last seen
    assert "score 9.1" in message.text
    assert "/api/v1/alerts/12/ack" in message.text
    assert message.test is False
    assert message.payload["event"] == "opened"
    assert message.payload["alert"]["id"] == 12
    assert message.payload["alert"]["first_seen_iso"] == "2024-05-01T12:03:00Z"
    assert message.payload["test"] is False
    assert message.payload["text"].startswith(message.subject)
    json.dumps(message.payload)  # JSON-ready


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            make_event("escalated", severity="high", detail="now high"),
            "[txmon HIGH] escalated: denied spike: 54/min vs 6.2 expected",
        ),
        (
            make_event("refired", detail="acknowledged but still open"),
            "[txmon HIGH] firing again: denied spike: 54/min vs 6.2 expected",
        ),
        (
            make_event("reminder", at=T0 + 3900),
            "[txmon HIGH] still firing after 1 h 5 min: denied spike: 54/min vs 6.2 expected",
        ),
        (
            make_event(
                "resolved", state="resolved", resolved_at=T0 + 17 * 60 + 30, at=T0 + 17 * 60 + 30
            ),
            "[txmon RESOLVED] denied spike resolved after 17 min",
        ),
        (
            make_event(
                "resolved",
                state="resolved",
                resolved_at=T0 + 86_400,
                at=T0 + 86_400,
                detail="accepted as the new level after 24 h, not recovered: "
                "640 against 31.0 expected in its last 12 minutes",
            ),
            "[txmon RESOLVED] denied spike accepted as the new level after 24 h, not recovered: "
            "640 against 31.0 expected in its last 12 minutes",
        ),
        (
            make_event("acknowledged", state="acknowledged", acknowledged_by="alice"),
            "[txmon ACK] denied spike acknowledged by alice",
        ),
        (
            make_event("opened", status="approved", kind="drop", peak_count=3, expected=118.4),
            "[txmon HIGH] approved drop: 3/min vs 118.4 expected",
        ),
        (
            make_event("opened", status="_total", kind="drop", peak_count=0, expected=250.0),
            "[txmon HIGH] all traffic drop: 0/min vs 250.0 expected",
        ),
        (
            make_event(
                "opened",
                kind="no_data",
                peak_count=0,
                expected=0.0,
                detail="no data for 5 min, about 120 expected",
            ),
            "[txmon HIGH] denied: no data for 5 min, about 120 expected",
        ),
        (
            make_event("opened", severity="medium", expected=0.04, peak_count=9),
            "[txmon MEDIUM] denied spike: 9/min vs 0.04 expected",
        ),
    ],
)
def test_subjects_per_event_type(event: AlertEvent, expected: str) -> None:
    assert render(event).subject == expected


def test_resolved_is_short_and_says_how_long() -> None:
    event = make_event("resolved", state="resolved", resolved_at=T0 + 17 * 60, at=T0 + 17 * 60)
    message = render(event)
    assert "resolved after 17 min" in message.text
    assert "Acknowledge" not in message.text  # nothing to do any more
    assert "Severity" not in message.text
    assert len(message.text.splitlines()) <= 10


def test_dynamic_values_are_escaped_in_html_and_subjects_stay_one_line() -> None:
    note = "<script>alert(1)</script> & co\nsecond line"
    event = make_event(
        "acknowledged",
        state="acknowledged",
        acknowledged_by="mallory <m@x>\r\nBcc: victim@example.com",
        acknowledged_at=T0 + 300,
        ack_note=note,
    )
    message = render(event)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in message.html
    parser = _Tags()
    parser.feed(message.html)
    assert "script" not in parser.tags
    assert note in message.text  # plain text stays verbatim
    # the subject is a valid email header
    mail = EmailMessage()
    mail["Subject"] = message.subject


def test_unknown_event_types_still_render() -> None:
    message = render(make_event("updated", detail="kind spike -> shift", kind="shift"))
    assert message.subject.startswith("[txmon HIGH] denied shift")
    assert "kind spike -&gt; shift" in message.html


def test_group_is_one_message_listing_every_alert_most_severe_first() -> None:
    events = [
        make_event(id=3, status="failed", severity="medium", peak_count=20, expected=2.0),
        make_event(id=4, status="denied"),
        make_event(id=5, status="approved", kind="drop", peak_count=10, expected=120.0),
        make_event(id=6, status="reversed", severity="medium", peak_count=9, expected=1.0),
    ]
    message = render_group(events)
    assert message.subject.startswith("[txmon HIGH] 4 alerts opened: denied spike, approved drop")
    assert message.subject.endswith("and 1 more")
    for status in ("failed", "denied", "approved", "reversed"):
        assert status in message.text
    assert message.text.index("denied spike") < message.text.index("failed spike")
    assert [e["alert_id"] for e in message.payload["events"]] == [4, 5, 3, 6]
    assert message.payload["event"] == "grouped"
    assert "#3, #4" not in message.text and "#4, #5, #3, #6" in message.text
    json.dumps(message.payload)


def test_group_of_one_is_a_plain_render_and_empty_is_refused() -> None:
    event = make_event()
    assert render_group([event]) == render(event)
    with pytest.raises(ValueError):
        render_group([])


def test_test_message_is_clearly_marked() -> None:
    message = render_test(T0)
    assert message.test is True
    assert "TEST" in message.subject
    assert message.text.startswith("TEST:")
    assert "2024-05-01T12:03:00Z" in message.text
    assert message.payload["test"] is True
    assert message.payload["event"] == "test"


def test_silenced_snapshot_is_visible() -> None:
    assert "firing (silenced)" in render(make_event(silenced=True)).text


def test_helpers() -> None:
    assert iso(T0) == "2024-05-01T12:03:00Z"
    assert iso(None) == ""
    assert duration(0) == "1 min"
    assert duration(17 * 60 + 59) == "17 min"
    assert duration(3600) == "1 h"
    assert duration(3900) == "1 h 5 min"
    assert duration(2 * 86400 + 3 * 3600) == "2 d 3 h"
    assert expected_text(6.2) == "6.2"
    assert expected_text(0.04) == "0.04"
    assert expected_text(0) == "0.0"
    assert expected_text(1250.4) == "1250"


def test_render_does_not_mutate_the_event() -> None:
    event = make_event()
    before = replace(event.alert)
    render(event)
    assert event.alert == before
