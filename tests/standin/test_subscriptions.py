"""Change notifications in the stand-in (issue 19): subscriptions, notifications, lifecycle, calendarView delta.

Each test names the Microsoft page it holds the stand-in to."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from devhost.graph_contract import load_contract
from devhost.msstandin import StandIn

from .conftest import ALICE, BOB, Graph


class Receiver:
    """A local notification endpoint: echoes validation tokens (``mode``) and keeps what it is sent."""

    def __init__(self) -> None:
        self.mode = "echo"  # echo | wrong | json | status500
        self.validations: list[str] = []
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                query = dict(parse_qsl(urlsplit(self.path).query))
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                if "validationToken" in query:
                    receiver.validations.append(urlsplit(self.path).path)
                    token = query["validationToken"]
                    status, ctype, body = {
                        "echo": (200, "text/plain", token), "wrong": (200, "text/plain", token + "x"),
                        "json": (200, "application/json", json.dumps(token)), "status500": (500, "text/plain", ""),
                    }[receiver.mode]
                else:
                    receiver.posts.append({"path": urlsplit(self.path).path, "body": json.loads(raw)})
                    status, ctype, body = 202, "text/plain", ""
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_posts(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.posts) >= count, self.posts
        return self.posts


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def subscribe(graph: Graph, receiver: Receiver, upn: str = ALICE, **over: Any) -> Any:
    body = {"changeType": "created,updated,deleted", "notificationUrl": receiver.url + "/notify",
            "lifecycleNotificationUrl": receiver.url + "/lifecycle", "resource": "/me/events",
            "expirationDateTime": in_minutes(4000), "clientState": "s3cret-state"}
    body.update(over)
    return graph.post(upn, "/subscriptions", json=body)


def new_event(graph: Graph, upn: str = ALICE, start: str = "2030-01-07T10:00:00") -> dict[str, Any]:
    end = (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat()
    resp = graph.post(upn, "/me/events", json={"subject": "Intro", "start": {"dateTime": start, "timeZone": "UTC"},
                                               "end": {"dateTime": end, "timeZone": "UTC"}})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_create_validates_both_urls_and_answers_the_subscription(ms: StandIn, graph: Graph,
                                                                 receiver: Receiver) -> None:
    """Pages "Create subscription" (201 with the subscription) and "Receive change notifications through
    webhooks" (notificationUrl validation: both notificationUrl and lifecycleNotificationUrl are validated)."""
    resp = subscribe(graph, receiver)
    assert resp.status_code == 201, resp.text
    sub = resp.json()
    assert sub["clientState"] == "s3cret-state" and sub["changeType"] == "created,updated,deleted"
    assert sub["applicationId"] == ms.client_id
    assert receiver.validations == ["/notify", "/lifecycle"]
    assert not load_contract().validate({k: v for k, v in sub.items() if k != "@odata.context"}, "subscription")
    assert graph.get(ALICE, f"/subscriptions/{sub['id']}").json()["id"] == sub["id"]
    assert graph.get(BOB, f"/subscriptions/{sub['id']}").status_code == 404  # another user's


@pytest.mark.parametrize("mode", ["wrong", "json", "status500"])
def test_creation_fails_when_the_token_is_not_echoed_as_plain_text(graph: Graph, receiver: Receiver,
                                                                   mode: str) -> None:
    """Page "Receive change notifications through webhooks": 200, text/plain, the decoded token, else no
    subscription; page "Create subscription": "If validation fails ... returns a 400 Bad Request error"."""
    receiver.mode = mode
    resp = subscribe(graph, receiver)
    assert resp.status_code == 400
    assert "validation" in resp.json()["error"]["message"].lower()
    assert graph.get(ALICE, "/subscriptions").json()["value"] == []


def test_expiration_beyond_the_outlook_event_maximum_is_refused(graph: Graph, receiver: Receiver) -> None:
    """Page "subscription resource type", "Maximum length of subscription per resource type": Outlook event
    4230 minutes (under 3 days); past expirations are refused too; clientState at most 128 characters."""
    assert subscribe(graph, receiver, expirationDateTime=in_minutes(4231)).status_code == 400
    assert subscribe(graph, receiver, expirationDateTime=in_minutes(-1)).status_code == 400
    assert subscribe(graph, receiver, clientState="x" * 129).status_code == 400
    assert subscribe(graph, receiver, notificationUrl="http://example.com/notify").status_code == 400
    sub = subscribe(graph, receiver, expirationDateTime=in_minutes(4229)).json()
    too_far = graph.patch(ALICE, f"/subscriptions/{sub['id']}", json={"expirationDateTime": in_minutes(4300)})
    assert too_far.status_code == 400
    renewed = graph.patch(ALICE, f"/subscriptions/{sub['id']}", json={"expirationDateTime": in_minutes(4200)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] != sub["expirationDateTime"]
    assert graph.delete(ALICE, f"/subscriptions/{sub['id']}").status_code == 204
    assert graph.patch(ALICE, f"/subscriptions/{sub['id']}",
                       json={"expirationDateTime": in_minutes(60)}).status_code == 404


def test_changes_through_graph_and_outlook_are_notified_in_the_contract_shape(ms: StandIn, graph: Graph,
                                                                             receiver: Receiver) -> None:
    """Page "Receive change notifications through webhooks" (changeNotificationCollection example: resource,
    resourceData, clientState, tenantId); sandbox operations act as the user in Outlook."""
    sub = subscribe(graph, receiver).json()
    ev = new_event(graph)
    graph.patch(ALICE, f"/me/events/{ev['id']}", json={"subject": "Renamed"})
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{ev['id']}/move",
               {"start": "2030-01-07T12:00:00Z", "end": "2030-01-07T12:30:00Z"})
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{ev['id']}/delete")
    posts = receiver.wait_posts(4)
    changes = [p["body"]["value"][0]["changeType"] for p in posts]
    assert changes == ["created", "updated", "updated", "deleted"]
    contract = load_contract()
    for post in posts:
        assert post["path"] == "/notify"
        assert not contract.validate(post["body"], "changeNotificationCollection")
        item = post["body"]["value"][0]
        assert item["subscriptionId"] == sub["id"] and item["clientState"] == "s3cret-state"
        assert item["resource"].endswith(f"/Events/{ev['id']}") and item["resourceData"]["@odata.id"]
    assert graph.get(ALICE, f"/me/events/{ev['id']}").status_code == 404


def test_decline_is_for_invitations_and_lapsed_subscriptions_are_silent(ms: StandIn, graph: Graph,
                                                                        receiver: Receiver) -> None:
    """Page "event: decline" (an invitee responds; the organizer cannot); page "Receive change notifications
    through webhooks" (a subscription not renewed in time is deleted: no more notifications, 404)."""
    sub = subscribe(graph, receiver).json()
    own = new_event(graph)
    with pytest.raises(RuntimeError, match="-> 400"):
        ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{own['id']}/decline")
    invite = ms.add_outside_event(ALICE, "2030-01-08T09:00:00Z", "2030-01-08T09:30:00Z")
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{invite['id']}/decline")
    posts = receiver.wait_posts(3)
    assert [p["body"]["value"][0]["changeType"] for p in posts] == ["created", "created", "updated"]
    assert graph.get(ALICE, f"/me/events/{invite['id']}").json()["responseStatus"]["response"] == "declined"
    ms.sandbox("POST", f"/_sandbox/subscriptions/{sub['id']}/lapse")
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{own['id']}/delete")
    time.sleep(0.3)  # nothing may arrive: give a wrong delivery the chance to show up
    assert len(receiver.posts) == 3
    assert graph.get(ALICE, f"/subscriptions/{sub['id']}").status_code == 404


@pytest.mark.parametrize("event", ["reauthorizationRequired", "missed", "subscriptionRemoved"])
def test_lifecycle_notifications_go_to_the_lifecycle_url(ms: StandIn, graph: Graph, receiver: Receiver,
                                                         event: str) -> None:
    """Page "Reduce missing subscriptions and change notifications": lifecycleEvent in a changeNotification
    collection, sent to lifecycleNotificationUrl; subscriptionRemoved removes the subscription."""
    sub = subscribe(graph, receiver).json()
    ms.sandbox("POST", f"/_sandbox/subscriptions/{sub['id']}/lifecycle", {"lifecycleEvent": event})
    post = receiver.wait_posts(1)[0]
    assert post["path"] == "/lifecycle"
    item = post["body"]["value"][0]
    assert item["lifecycleEvent"] == event and item["clientState"] == "s3cret-state"
    assert not load_contract().validate(post["body"], "changeNotificationCollection")
    expected = 404 if event == "subscriptionRemoved" else 200
    assert graph.get(ALICE, f"/subscriptions/{sub['id']}").status_code == expected


def test_calendar_view_delta_full_round_then_changes_with_removed(ms: StandIn, graph: Graph) -> None:
    """Page "event: delta": startDateTime/endDateTime required in the first request, @odata.nextLink pages,
    @odata.deltaLink ends a round; the next round has only the changes, deletions under @removed."""
    assert graph.get(ALICE, "/me/calendarView/delta").status_code == 400
    first = [new_event(graph, start=f"2030-01-07T{h:02d}:00:00") for h in (9, 10, 11)]
    window = "startDateTime=2030-01-07T00:00:00Z&endDateTime=2030-01-08T00:00:00Z"
    page = graph.get(ALICE, f"/me/calendarView/delta?{window}", headers={"Prefer": "odata.maxpagesize=2"}).json()
    seen = [e["id"] for e in page["value"]]
    assert len(seen) == 2 and "@odata.nextLink" in page
    nxt = ms_get(graph, page["@odata.nextLink"])
    seen += [e["id"] for e in nxt["value"]]
    assert seen == [e["id"] for e in first] and "@odata.deltaLink" in nxt
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{first[0]['id']}/delete")
    ms.sandbox("POST", f"/_sandbox/accounts/{ALICE}/events/{first[1]['id']}/move",
               {"start": "2030-01-07T15:00:00Z", "end": "2030-01-07T15:30:00Z"})
    changes = ms_get(graph, nxt["@odata.deltaLink"])
    by_id = {e["id"]: e for e in changes["value"]}
    assert set(by_id) == {first[0]["id"], first[1]["id"]}
    assert by_id[first[0]["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[first[1]["id"]]["start"]["dateTime"].startswith("2030-01-07T15:00:00")
    assert ms_get(graph, changes["@odata.deltaLink"])["value"] == []


def ms_get(graph: Graph, url: str) -> dict[str, Any]:
    """GET an absolute @odata link with ALICE's token."""
    resp = graph.http.get(url, headers={"Authorization": f"Bearer {graph.token(ALICE)}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())
