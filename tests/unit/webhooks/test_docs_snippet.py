"""The verification snippet of docs/webhooks.md, extracted from the document and executed (it cannot drift)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.domain.webhooks import signature_header

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


@pytest.fixture(scope="module")
def verify() -> Any:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Verifying a signature", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None, "docs/webhooks.md lost its verification snippet"
    namespace: dict[str, Any] = {}
    exec(compile(snippet.group(1), str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_bookbridge_signature"]


BODY = b'{"created":1764921600,"id":"evt_1","type":"booking.created"}'
SECRET = "whsec-0123456789abcdef"


def test_the_snippet_accepts_what_bookbridge_signs(verify: Any) -> None:
    header = signature_header(SECRET, 1764921600, BODY)
    assert verify(header, BODY, SECRET, now=1764921600 + 10) is True


def test_the_snippet_refuses_a_forged_signature(verify: Any) -> None:
    forged = "t=1764921600,v1=" + "0" * 64
    assert verify(forged, BODY, SECRET, now=1764921600) is False
    other_secret = signature_header("someone-elses-secret", 1764921600, BODY)
    assert verify(other_secret, BODY, SECRET, now=1764921600) is False
    tampered = signature_header(SECRET, 1764921600, BODY)
    assert verify(tampered, BODY.replace(b"created", b"cancelled"), SECRET, now=1764921600) is False


def test_the_snippet_refuses_a_replay(verify: Any) -> None:
    header = signature_header(SECRET, 1764921600, BODY)
    assert verify(header, BODY, SECRET, now=1764921600 + 301) is False
