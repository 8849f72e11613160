"""Outgoing mail for bookbridge: composition, templates, iCalendar invitations and transports.

Import the submodules you need (``shared.mail.message``, ``shared.mail.templates``,
``shared.mail.ics``, ``shared.mail.transport``, ``shared.mail.smtp_transport``,
``shared.mail.acs_transport``). This package module itself imports nothing, so that
``import shared.mail`` stays cheap; icalendar and requests load only with the modules
that use them.
"""
from __future__ import annotations

__all__: list[str] = []
