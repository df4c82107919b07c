"""The documentation names every setting the code has."""

from __future__ import annotations

import dataclasses
import re

from server.detect.config import DetectConfig
from tests.conftest import REPO


def test_detection_md_documents_every_detect_key() -> None:
    text = (REPO / "docs" / "detection.md").read_text()
    rows = " ".join(re.findall(r"^\| ([^|]+) \|", text, re.M))
    missing = [f.name for f in dataclasses.fields(DetectConfig) if f.name not in rows]
    assert missing == []


def test_readme_shows_the_two_commands_and_every_doc_it_links_exists() -> None:
    text = (REPO / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (REPO / link).exists(), link


def test_makefile_targets_the_readme_promises() -> None:
    makefile = (REPO / "Makefile").read_text()
    for target in ("install:", "demo: install", "test: install"):
        assert target in makefile
