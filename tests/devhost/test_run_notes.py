"""What ``make run`` prints about connect links, the stand-in's certificate and calendar ids (issue 21)."""
from __future__ import annotations

import re
import shlex

from devhost.demo import WORKSPACE, demo_calendars
from devhost.run_notes import calendar_notes, certificate_notes, connect_link_notes
from tests.app_index import indexed_functions


def _route_regex(route: str) -> re.Pattern[str]:
    return re.compile("^/api/" + re.sub(r"\{[^}]+\}", "[^/]+", route) + "$")


def test_connect_link_notes_say_single_use_and_expiry_and_give_a_command_for_a_real_route() -> None:
    lines = connect_link_notes("http://127.0.0.1:7071", "KEY123", "demo", "alex")
    text = "\n".join(lines)
    assert "work ONCE" in text and "expire 15 minutes" in text
    argv = shlex.split(lines[1].strip())
    assert argv[:4] == ["curl", "-s", "-X", "POST"] and "x-functions-key: KEY123" in argv
    url = argv[-1]
    assert url == "http://127.0.0.1:7071/api/workspaces/demo/users/alex/connections/teams/connect-links"
    path = url.split("7071", 1)[1]
    matching = [name for name, f in indexed_functions().items()
                if f["route"] and "POST" in [m.upper() for m in f["methods"]] and _route_regex(f["route"]).match(path)]
    assert matching == ["connections_create_connect_link"]
    assert lines[2].split() == ["or:", "make", "connect-link", "WS=demo", "USER=alex", "KIND=teams"]


def test_certificate_notes_name_the_ca_file_and_the_one_warning() -> None:
    lines = certificate_notes("https://127.0.0.1:9443", "/tmp/run/devcerts/ca.pem")
    text = "\n".join(lines)
    assert "https://127.0.0.1:9443" in text and "/tmp/run/devcerts/ca.pem" in text
    assert "warns once per run" in text and "certificate authority" in text
    assert certificate_notes(None, None) == []  # real Microsoft: nothing to say


def test_calendar_notes_name_ids_and_slugs_of_the_demo() -> None:
    calendars = [{"id": cid, "slug": body["slug"]} for cid, body in demo_calendars()]
    (line,) = calendar_notes(WORKSPACE, calendars)
    assert "id 'intro' = slug 'demo-intro'" in line and "id 'team' = slug 'demo-team'" in line
