"""Schemathesis against a live receiver: the OpenAPI document it serves is exact.

The receiver runs on a free loopback port; Schemathesis loads `GET /api/v1/openapi.json`
from it and sends every operation generated requests, valid and invalid, then checks that
no answer is a 5xx and that each status code, content type and body is one the document
declares. Two receivers: one without a token, one with a token the client sends (then
Schemathesis also probes each operation without it). Seeded, derandomized and bounded to
75 examples per operation: about 3,300 requests in 80-90 s on two busy cores, and no
outcome that depends on a random draw.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.api.server import TxmonHTTPServer
from server.config import Config
from server.core.receiver import Receiver

TOKEN = "schemathesis-token-0123456789"
SEED = 20261201
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BOUNDED = settings(
    max_examples=75,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


class Running:
    def __init__(self, db: Path, token: str | None) -> None:
        self.config = Config(db=str(db), port=0, access_log="off", token=token)
        self.receiver = Receiver(self.config)
        self.server = TxmonHTTPServer(self.config, self.receiver)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def schema(self, headers: dict[str, str]) -> schemathesis.BaseSchema:
        config = SchemathesisConfig.from_dict(
            {
                "seed": SEED,
                "base-url": self.server.url,
                "headers": headers,
                "generation": {"deterministic": True},
            }
        )
        return schemathesis.openapi.from_url(
            self.server.url + "/api/v1/openapi.json", config=config, headers=headers
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.server.wait_idle(5)
        self.receiver.close()


def _running(tmp_path_factory: pytest.TempPathFactory, token: str | None) -> Iterator[Running]:
    running = Running(tmp_path_factory.mktemp("schemathesis") / "txmon.db", token)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def open_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _running(tmp_path_factory, None)


@pytest.fixture(scope="module")
def token_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _running(tmp_path_factory, TOKEN)


@pytest.fixture(scope="module")
def schema_without_token(open_receiver: Running) -> schemathesis.BaseSchema:
    return open_receiver.schema({})


@pytest.fixture(scope="module")
def schema_with_token(token_receiver: Running) -> schemathesis.BaseSchema:
    return token_receiver.schema({"Authorization": f"Bearer {TOKEN}"})


without_token = schemathesis.pytest.from_fixture("schema_without_token")
with_token = schemathesis.pytest.from_fixture("schema_with_token")


@without_token.parametrize()
@BOUNDED
def test_api_without_a_token_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)


@with_token.parametrize()
@BOUNDED
def test_api_with_a_token_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Bearer {TOKEN}"})


def test_records_generated_from_the_served_schema_are_all_stored(open_receiver: Running) -> None:
    """A schema-driven client that follows the document sends only records that are stored."""
    operation = open_receiver.schema({})["/api/v1/transactions"]["POST"]
    answers: list[tuple[int, str]] = []

    @settings(BOUNDED, max_examples=100)
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def post(case: schemathesis.Case) -> None:
        if case.headers:  # a generated key may repeat with another body: a rightful 422
            case.headers.pop("Idempotency-Key", None)
        response = case.call()
        answers.append((response.status_code, case.media_type or ""))

    post()
    assert {media for _, media in answers} >= {"application/json", "text/csv"}
    refused = [(code, media) for code, media in answers if code != 201]
    assert refused == []


def test_every_operation_but_healthz_documents_401_and_answers_it(
    token_receiver: Running,
) -> None:
    document = httpx.get(
        token_receiver.server.url + "/api/v1/openapi.json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    answered: dict[str, int] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            label = f"{method.upper()} {path}"
            answer = httpx.request(method, token_receiver.server.url + path.replace("{id}", "1"))
            answered[label] = answer.status_code
            if path == "/healthz":
                assert operation["security"] == [] and "401" not in operation["responses"]
            else:
                assert "401" in operation["responses"], label
                assert answer.json()["error"].startswith("missing or wrong API token")
    expected = {label: 200 if label == "GET /healthz" else 401 for label in answered}
    assert answered == expected
    assert len(answered) == 17
