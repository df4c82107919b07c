"""Alert lifecycle: one open alert per status, opened, escalated, acknowledged, re-fired, resolved.

The `AlertBook` is driven minute by minute by the engine (event time) and by timers (`now`).
Every change returns `AlertEvent`s carrying a snapshot of the alert: that list is the hand-off
to storage and to notifications (which skip events whose snapshot is `silenced`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

from server.detect.config import SEVERITIES, DetectConfig
from server.errors import AlertConflict, AlertNotFound, SilenceNotFound

# The domain's words, spelled once: alert kinds, states, and lifecycle event types (an event
# named after the state it leads to uses the same word).
SPIKE, DROP, SHIFT, NO_DATA = KINDS = ("spike", "drop", "shift", "no_data")
FIRING, ACKNOWLEDGED, RESOLVED = STATES = ("firing", "acknowledged", "resolved")
OPEN_STATES = (FIRING, ACKNOWLEDGED)
OPENED, ESCALATED, UNACKNOWLEDGED, REFIRED, UPDATED = (
    "opened",
    "escalated",
    "unacknowledged",
    "refired",
    "updated",
)
EVENT_TYPES = (OPENED, ESCALATED, ACKNOWLEDGED, UNACKNOWLEDGED, RESOLVED, REFIRED, UPDATED)
REMINDER = "reminder"  # not a lifecycle event: the outbox's repeat of a firing alert
# How the detail of a resolution begins when its status never came back (see Judging._away).
ACCEPTED = "accepted as the new level"


def expected_text(value: float) -> str:
    """An expected count with useful precision: `6.2`, `0.04`, `1250`."""
    if value >= 1000:
        return f"{value:.0f}"
    if value >= 1 or value == 0:
        return f"{value:.1f}"
    return f"{value:.2g}"


@dataclass(slots=True)
class Alert:
    """One incident of one status. Times are epoch seconds; first/last_seen are bucket starts."""

    id: int
    status: str
    kind: str
    state: str
    severity: str
    first_seen: int
    last_seen: int
    peak_count: int = 0
    peak_score: float = 0.0
    expected: float = 0.0  # expected count at the peak
    acknowledged_by: str | None = None
    acknowledged_at: int | None = None
    ack_note: str | None = None
    resolved_at: int | None = None
    silenced: bool = False

    @property
    def open(self) -> bool:
        """Firing or acknowledged."""
        return self.state != "resolved"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class AlertEvent:
    """A lifecycle change of one alert, with the alert as it is after the change."""

    alert_id: int
    type: str
    at: int
    alert: Alert
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {
            "alert_id": self.alert_id,
            "type": self.type,
            "at": self.at,
            "detail": self.detail,
            "alert": self.alert.as_dict(),
        }


@dataclass(slots=True)
class Silence:
    """Mute notifications for one status (or all when status is None) until `expires_at`."""

    id: int
    status: str | None
    created_by: str
    reason: str
    created_at: int
    expires_at: int

    def matches(self, status: str, now: int) -> bool:
        """Whether this silence covers the status at time now."""
        return self.created_at <= now < self.expires_at and self.status in (None, status)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class Observation:
    """The engine's judgement of one status in one bucket, fed to the lifecycle."""

    minute: int
    severity: int  # index into SEVERITIES
    score: float
    kind: str
    count: int
    expected: float


@dataclass(slots=True)
class _Track:
    recent: deque[tuple[int, int]] = field(default_factory=deque)  # (minute, severity)
    rise_ended: int = -(1 << 62)  # when the status's last rise alert resolved


class AlertBook:
    """Open and recently resolved alerts plus silences; all methods return emitted events."""

    def __init__(self, config: DetectConfig, next_alert_id: int = 1) -> None:
        self.config = config
        self.next_id = next_alert_id
        self.next_silence_id = 1
        # Silences are set and expire on the operators' (wall) clock; the newest such time
        # seen (tick, ack, silence) judges them. Never told one (a backtest), event time does.
        self.wall: int | None = None
        self.by_status: dict[str, Alert] = {}
        self.by_id: dict[int, Alert] = {}
        self.resolved: OrderedDict[int, Alert] = OrderedDict()
        self.silences: dict[int, Silence] = {}
        self._tracks: dict[str, _Track] = {}
        self._window = config.open_medium_n * config.bucket_seconds  # k-of-n span, seconds
        self._rearm = config.rearm_minutes * config.bucket_seconds

    # ------------------------------------------------------------ observations

    def observe(self, status: str, obs: Observation) -> list[AlertEvent]:
        """Apply one judged bucket of a status: open, update, escalate or resolve."""
        if obs.severity < 2:
            return self.observe_normal(status, obs.minute, obs.severity)
        horizon = self._remember(status, obs.minute, obs.severity)
        alert = self.by_status.get(status)
        if alert is None:
            recent = self._tracks[status].recent
            mediums = sum(1 for m, s in recent if s >= 2 and m > horizon)
            if obs.severity >= 3 or mediums >= self.config.open_medium_k:
                if obs.kind == "shift" and self.rearming(status, obs.minute):
                    return []  # the after-glow of the rise that just ended
                return [self._open(status, obs)]
            return []
        return self._update(alert, obs)

    def rearming(self, status: str, minute: int) -> bool:
        """Whether a rise alert of the status resolved less than `rearm_minutes` before
        minute: its long sums still hold the incident's after-glow, so only a rise the short
        windows see (a spike) opens a new alert, and those minutes teach no tail."""
        track = self._tracks.get(status)
        return track is not None and minute - track.rise_ended < self._rearm

    def observe_normal(
        self, status: str, minute: int, severity: int, why: str | None = None
    ) -> list[AlertEvent]:
        """`observe` of a bucket below medium severity (0 or 1), which needs no score, kind,
        count or expected value: it only counts in the k-of-n window and may resolve (`why`,
        when given, is the resolution's detail)."""
        track = self._tracks.get(status)  # self._remember(...), written out: the common case
        if track is None:
            track = self._tracks[status] = _Track()
        recent = track.recent
        recent.append((minute, severity))
        horizon = minute - self._window
        while recent[0][0] <= horizon:  # never empties: the entry just added is newer
            recent.popleft()
        alert = self.by_status.get(status)
        if alert is None:
            return []
        if alert.kind == "no_data":
            return [self._resolve(alert, minute, "data resumed")]
        cfg = self.config
        # A `low` minute is not a normal one: evidence still building keeps the alert open.
        if severity == 0 and minute - alert.last_seen >= cfg.resolve_minutes * cfg.bucket_seconds:
            return [self._resolve(alert, minute, why or f"{cfg.resolve_minutes} normal minutes")]
        return []

    def keep_open(self, alert: Alert, minute: int) -> None:
        """A minute the detector finds normal but the status is still away from the level its
        alert opened against (see Judging._away): it counts as abnormal for resolving."""
        if minute > alert.last_seen:
            alert.last_seen = minute

    def _track(self, status: str) -> _Track:
        """The status's k-of-n window and after-glow clock, made on first use."""
        track = self._tracks.get(status)
        if track is None:
            track = self._tracks[status] = _Track()
        return track

    def _remember(self, status: str, minute: int, severity: int) -> int:
        """Add a judged bucket to the status's k-of-n window; return the window's horizon."""
        recent = self._track(status).recent
        recent.append((minute, severity))
        horizon = minute - self._window
        while recent and recent[0][0] <= horizon:
            recent.popleft()
        return horizon

    def _open(self, status: str, obs: Observation) -> AlertEvent:
        alert = Alert(
            id=self.next_id,
            status=status,
            kind=obs.kind,
            state="firing",
            severity=SEVERITIES[obs.severity],
            first_seen=obs.minute,
            last_seen=obs.minute,
            peak_count=obs.count,
            peak_score=round(obs.score, 3),
            expected=round(obs.expected, 3),
        )
        self.next_id += 1
        alert.silenced = self._silenced(status, obs.minute if self.wall is None else self.wall)
        self.by_status[status] = alert
        self.by_id[alert.id] = alert
        detail = f"{obs.kind}: {obs.count} against {expected_text(obs.expected)} expected"
        return _event(alert, "opened", obs.minute, detail)

    def _update(self, alert: Alert, obs: Observation) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        if obs.minute > alert.last_seen:
            alert.last_seen = obs.minute
        if obs.minute < alert.first_seen:
            alert.first_seen = obs.minute
        kind = alert.kind
        if obs.score > alert.peak_score:
            alert.peak_score = round(obs.score, 3)
            alert.peak_count = obs.count
            alert.expected = round(obs.expected, 3)
            if obs.kind != "shift":  # a spike turns shift only by lasting (below)
                kind = obs.kind
        # A spike still going on after `resolve_minutes`, seen by the long windows only now,
        # is one incident whose kind is now shift.
        cfg = self.config
        if (
            obs.kind == "shift"
            and obs.minute - alert.first_seen >= cfg.resolve_minutes * cfg.bucket_seconds
        ):
            kind = "shift"
        if obs.severity > SEVERITIES.index(alert.severity):
            alert.severity = SEVERITIES[obs.severity]
            events.append(_event(alert, "escalated", obs.minute, f"now {alert.severity}"))
        if kind != alert.kind:
            old, alert.kind = alert.kind, kind
            events.append(_event(alert, "updated", obs.minute, f"kind {old} -> {kind}"))
        return events

    def _ended(self, alert: Alert) -> None:
        """Note when a resolved rise alert ended, for `rearming`."""
        at = alert.resolved_at
        if alert.kind in ("spike", "shift") and at is not None:
            track = self._track(alert.status)
            if at > track.rise_ended:
                track.rise_ended = at

    def _resolve(self, alert: Alert, at: int, why: str) -> AlertEvent:
        alert.state = "resolved"
        alert.resolved_at = at
        self._ended(alert)
        del self.by_status[alert.status]
        self.resolved[alert.id] = alert
        while len(self.resolved) > self.config.resolved_kept:
            old_id, _old = self.resolved.popitem(last=False)
            self.by_id.pop(old_id, None)
        return _event(alert, "resolved", at, why)

    # ------------------------------------------------------------ timers

    def no_data(self, status: str, now: int, detail: str) -> list[AlertEvent]:
        """A status that should have traffic has been silent: open or refresh a no-data alert."""
        minute = now - now % self.config.bucket_seconds
        alert = self.by_status.get(status)
        if alert is None:
            obs = Observation(minute, 3, 0.0, "no_data", 0, 0.0)
            event = self._open(status, obs)
            event.detail = detail
            return [event]
        alert.last_seen = max(alert.last_seen, minute)
        if alert.kind != "no_data":
            old, alert.kind = alert.kind, "no_data"
            return [_event(alert, "updated", now, f"kind {old} -> no_data: {detail}")]
        return []

    def tick(self, now: int, event_now: int | None = None) -> list[AlertEvent]:
        """Ack timeouts and silence expiry (wall clock `now`); resolving alerts whose status
        went quiet (event time `event_now`, the same clock when not given)."""
        self.wall = now
        event_now = now if event_now is None else event_now
        cfg = self.config
        events: list[AlertEvent] = []
        for sid in [s.id for s in self.silences.values() if s.expires_at <= now]:
            del self.silences[sid]
        for alert in list(self.by_status.values()):
            if alert.silenced and not self._silenced(alert.status, now):
                alert.silenced = False
                events.append(_event(alert, "updated", now, "silence ended"))
            if (
                alert.state == "acknowledged"
                and alert.acknowledged_at is not None
                and now - alert.acknowledged_at >= cfg.ack_timeout_minutes * 60
            ):
                alert.state = "firing"
                alert.acknowledged_by = alert.acknowledged_at = alert.ack_note = None
                events.append(_event(alert, "refired", now, "acknowledged but still open"))
        return events + self.resolve_quiet(event_now)

    def resolve_quiet(self, event_now: int) -> list[AlertEvent]:
        """Resolve alerts whose status has not been judged for `resolve_minutes` (event time;
        a judged `low` minute is not quiet)."""
        cfg = self.config
        events: list[AlertEvent] = []
        for alert in list(self.by_status.values()):
            if alert.kind == "no_data":
                continue
            track = self._tracks.get(alert.status)
            seen = alert.last_seen
            if track is not None and track.recent and track.recent[-1][0] > seen:
                seen = track.recent[-1][0]
            quiet = event_now - (seen + cfg.bucket_seconds)
            if quiet >= cfg.resolve_minutes * cfg.bucket_seconds:
                events.append(self._resolve(alert, event_now, "no abnormal data since last seen"))
        return events

    # ------------------------------------------------------------ operator actions

    def get(self, alert_id: int) -> Alert:
        """The alert with this id, or AlertNotFound."""
        alert = self.by_id.get(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert with id {alert_id}")
        return alert

    def ack(self, alert_id: int, by: str, note: str | None, now: int) -> list[AlertEvent]:
        """Acknowledge an open alert (again if already acknowledged); 409 when resolved."""
        alert = self.get(alert_id)
        if not alert.open:
            raise AlertConflict(f"alert {alert_id} is resolved and cannot be acknowledged")
        alert.state = "acknowledged"
        alert.acknowledged_by = by
        alert.acknowledged_at = now
        alert.ack_note = note
        return [_event(alert, "acknowledged", now, f"by {by}" + (f": {note}" if note else ""))]

    def unack(self, alert_id: int, now: int) -> list[AlertEvent]:
        """Undo an acknowledgement: the alert fires again."""
        alert = self.get(alert_id)
        if alert.state != "acknowledged":
            raise AlertConflict(f"alert {alert_id} is {alert.state}, not acknowledged")
        alert.state = "firing"
        alert.acknowledged_by = alert.acknowledged_at = alert.ack_note = None
        return [_event(alert, "unacknowledged", now, "acknowledgement undone")]

    def add_silence(
        self, status: str | None, minutes: int, by: str, reason: str, now: int
    ) -> Silence:
        """Create a silence; open alerts it covers are flagged silenced from now on."""
        if minutes <= 0:
            raise ValueError("minutes must be positive")
        self.wall = now
        silence = Silence(self.next_silence_id, status, by, reason, now, now + minutes * 60)
        self.next_silence_id += 1
        self.silences[silence.id] = silence
        for alert in self.by_status.values():
            if silence.matches(alert.status, now):
                alert.silenced = True
        return silence

    def remove_silence(self, silence_id: int) -> Silence:
        """Delete a silence (alerts lose the flag at the next tick); SilenceNotFound if unknown."""
        silence = self.silences.pop(silence_id, None)
        if silence is None:
            raise SilenceNotFound(f"no silence in force with id {silence_id}")
        return silence

    def active_silences(self, now: int) -> list[Silence]:
        """Silences in force at time now, oldest first."""
        return [s for s in self.silences.values() if s.created_at <= now < s.expires_at]

    def _silenced(self, status: str, now: int) -> bool:
        return any(s.matches(status, now) for s in self.silences.values())

    def restore(
        self,
        alerts: list[Alert],
        silences: list[Silence],
        next_alert_id: int,
        next_silence_id: int = 1,
    ) -> None:
        """Reload persisted state at start-up (open alerts become current again)."""
        for alert in alerts:
            self.by_id[alert.id] = alert
            if alert.open:
                self.by_status[alert.status] = alert
            else:
                self.resolved[alert.id] = alert
                self._ended(alert)
        ids = [a.id for a in alerts]
        self.next_id = max([next_alert_id, self.next_id, *(i + 1 for i in ids)])
        for silence in silences:
            self.silences[silence.id] = silence
        self.next_silence_id = max(
            [next_silence_id, self.next_silence_id, *(s.id + 1 for s in silences)]
        )


def _event(alert: Alert, kind: str, at: int, detail: str) -> AlertEvent:
    return AlertEvent(alert.id, kind, at, replace(alert), detail)
