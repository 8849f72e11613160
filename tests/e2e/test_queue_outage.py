"""Nothing stranded (issue 15 point 10, rule 16): Azurite's queue service alone stopped for two minutes during a burst.

The stack runs its queues on an Azurite of their own (``StackConfig.separate_queue_service``), so the test stops the
queue service while tables keep answering, as the issue measured it: a booking requested meanwhile is answered 503
with ``Retry-After`` within seconds (intake puts its message first: nothing is stored for it, never a stranded
booking). Once the queue service is back, every stored booking (every 201, before and after the outage, and any
other booking stored) ends with its link and exactly one confirmation carrying it; the sweep is run meanwhile, as the
timer would.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devhost.host_queues import PROCESSING_VISIBILITY
from devhost.smoke import Client, run_sweep, wait_for

from .conftest import Workspace, around_the_clock_calendar, book_many

STACK_OVERRIDES = {"separate_queue_service": True}
OUTAGE_SECONDS = 120
ALICE = "alice@contoso.example"


def test_the_queue_service_stopped_two_minutes_during_a_burst_leaves_every_stored_booking_linked_and_mailed_once(
        stack: Any, client: Client, new_workspace: Callable[[str], Workspace]) -> None:
    ws = new_workspace("qdown")
    ws.user("host")
    slug = ws.calendar("intro", around_the_clock_calendar("host"))
    client.connect_ok(ws.id, "host", "teams", ALICE)
    starts = client.slots(slug, days=3)
    answered = {b["id"] for b in book_many(client, slug, starts[40:46], f"{ws.id}-before", workers=6)}

    stack.stop_queue_service()
    stopped = time.monotonic()
    during = []
    for i, start in enumerate(starts[50:56]):
        asked = time.monotonic()
        resp = client.book(slug, start, f"During {i}", f"{ws.id}-during-{i}@invitee.example", "UTC")
        during.append(resp.status_code)
        assert resp.status_code in (201, 503), resp.text
        assert resp.status_code == 201 or (resp.headers.get("Retry-After") and time.monotonic() - asked < 10)
        if resp.status_code == 201:
            answered.add(resp.json()["id"])
    assert 503 in during  # the queue could not take the booking's message: answered 503 within seconds
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))  # the outage lasts two minutes
    stack.start_queue_service()
    answered |= {b["id"] for b in book_many(client, slug, starts[60:66], f"{ws.id}-after", workers=6)}

    left: dict[str, Any] = {}

    def every_booking_linked_and_confirmed() -> list[dict[str, Any]] | None:
        listed = client.mgmt("GET", f"/workspaces/{ws.id}/users/host/bookings").json()["bookings"]
        left["missing"] = sorted(answered - {b["id"] for b in listed})
        left["unfinished"] = [(b["id"][:8], b["link_status"], b["link_reason"], b["next_attempt_at"], b["history"][-2:])
                              for b in listed if b["link_status"] != "created"
                              or not client.mails(b["invitee"]["email"], "confirmation")]
        if not left["missing"] and not left["unfinished"]:
            return list(listed)
        run_sweep(client)  # what the timer does: whatever a lost or refused message left undone is taken over
        return None

    try:
        # A receive the queue service answered just as it stopped leaves its messages invisible for the host's
        # processing visibility (devhost.host_queues.PROCESSING_VISIBILITY, 10 minutes as in Azure): they are
        # delivered again only then, so the wait covers it (one CI run found 6 bookings still waiting at 420 s).
        listed = wait_for(every_booking_linked_and_confirmed, timeout=PROCESSING_VISIBILITY + 120, interval=10,
                          what="every stored booking linked and confirmed")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {left}") from None
    assert len({b["meeting_url"] for b in listed}) == len(listed) >= len(answered) >= 12
    for booking in listed:
        [mail] = client.mails(booking["invitee"]["email"], "confirmation")
        assert booking["meeting_url"] in mail.text
    time.sleep(5)  # a second confirmation, if one were sent, would be in the outbox by now
    assert [len(client.mails(b["invitee"]["email"], "confirmation")) for b in listed] == [1] * len(listed)
