"""Rule 21: the link in a host notice works whenever the host reads the email.

It is not a 15-minute connect link: each opening mints a fresh one-time connect link for the right
kind, until the slot has been connected since the notice was sent (then it says so) or 7 days pass.
"""
from __future__ import annotations

from shared.domain.model import ConnectionKind
from shared.usecases.connections import notice_link_url, open_notice_link, preview_link
from tests.unit.connections.helpers import ALICE, PUBLIC_BASE, connect


def _token(url: str) -> str:
    assert url.startswith(f"{PUBLIC_BASE}/api/reconnect/")
    return url.rsplit("/", 1)[1]


def _notice(deps, kind: ConnectionKind = ConnectionKind.TEAMS, user: str = "u1") -> str:
    return _token(notice_link_url(deps.signer, deps.public_base_url, "ws1", user, kind, deps.clock.now()))


def test_a_notice_link_read_hours_later_still_starts_a_connect_flow(deps, ms):
    token = _notice(deps)
    deps.clock.advance(hours=30)  # the host reads the email the next day
    opened = open_notice_link(deps, token)
    assert opened.http_status == 302 and opened.kind == "teams"
    connect_token = opened.redirect_to.rsplit("/", 1)[1]
    assert opened.redirect_to.startswith(f"{PUBLIC_BASE}/api/connect/")
    assert preview_link(deps, connect_token).ok  # a live one-time connect link for this host
    again = open_notice_link(deps, token)  # opened twice (another device): another fresh link
    assert again.http_status == 302 and again.redirect_to != opened.redirect_to


def test_the_notice_link_carries_the_kind_that_fixes_it(deps, ms):
    opened = open_notice_link(deps, _notice(deps, ConnectionKind.MICROSOFT_CALENDAR, user="u2"))
    connect_token = opened.redirect_to.rsplit("/", 1)[1]
    assert preview_link(deps, connect_token).kind == "microsoft_calendar"
    from shared.domain import connections as rules
    from shared.usecases.connections.deps import sha256_hex

    row = deps.store.get(rules.CONNECT_LINKS_TABLE, sha256_hex(connect_token), rules.CONNECT_ROW)
    assert (row["ws"], row["user"], row["kind"]) == ("ws1", "u2", "microsoft_calendar")


def test_after_the_host_connects_the_link_says_nothing_is_left_to_do(deps, ms):
    token = _notice(deps)
    deps.clock.advance(minutes=5)
    assert connect(deps, ms, "ws1", "u1", "teams", ALICE).ok
    done = open_notice_link(deps, token)
    assert done.ok and done.http_status == 200 and done.reason == "already_connected"
    assert done.redirect_to is None
    # a notice sent after that connection (it broke again) works again
    deps.clock.advance(minutes=5)
    assert open_notice_link(deps, _notice(deps)).http_status == 302


def test_an_expired_or_forged_notice_link_is_refused(deps, ms):
    token = _notice(deps)
    deps.clock.advance(days=7, seconds=1)
    expired = open_notice_link(deps, token)
    assert not expired.ok and expired.http_status == 400 and expired.reason == "link_expired"
    body, mac = _notice(deps).split(".")
    assert open_notice_link(deps, f"{body}.{mac[:-2]}AA").reason == "link_invalid"
    assert open_notice_link(deps, "").reason == "link_invalid"
    assert open_notice_link(deps, "é.é").reason == "link_invalid"  # non-ASCII: refused, never a 500


def test_a_connect_link_token_is_not_a_notice_link(deps, ms):
    from shared.usecases.connections import create_connect_link

    link = create_connect_link(deps, "ws1", "u1", "teams")
    assert open_notice_link(deps, link["url"].rsplit("/", 1)[1]).reason == "link_invalid"
