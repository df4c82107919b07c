"""Whatever a client sends, the answer is a JSON 2xx/4xx: never a 500, never a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Live

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": json_values | st.sampled_from(["2025-07-12 13:45:00", 1752327900]),
        "status": json_values | st.sampled_from(["approved", "denied"]),
        "count": json_values | st.integers(-5, 10**10),
    },
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def check(answer) -> None:
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    if answer.status_code >= 400:
        assert isinstance(body["error"], str) and "Traceback" not in body["error"]


@FUZZ
@given(body=json_values | st.lists(record_like, max_size=4) | record_like)
def test_any_json_body_gets_a_clean_answer(live: Live, body: object) -> None:
    check(
        live.client.post(
            "/api/v1/transactions",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
    )


@FUZZ
@given(
    raw=st.binary(max_size=300),
    ctype=st.sampled_from(
        ["application/json", "text/csv", "application/x-ndjson", "", "text/plain"]
    ),
)
def test_any_bytes_get_a_clean_answer(live: Live, raw: bytes, ctype: str) -> None:
    check(live.client.post("/api/v1/transactions", content=raw, headers={"Content-Type": ctype}))


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "before_id", "after_id", "status", "severity", "minutes"]),
        st.text(max_size=12),
        max_size=4,
    ),
    path=st.sampled_from(["/api/v1/transactions", "/api/v1/series", "/api/v1/summary"]),
)
def test_any_query_string_gets_a_clean_answer(live: Live, params: dict, path: str) -> None:
    check(live.client.get(path, params=params))
