"""Fixtures of the mail unit tests."""
from __future__ import annotations

import pytest

from shared.mail.templates import BookingView
from tests.unit.mail.helpers import sample_view


@pytest.fixture()
def view() -> BookingView:
    """A confirmed booking with a Teams link, in winter (CET)."""
    return sample_view()
