"""The housekeeping timer: its binding, and that the app registers it."""
from __future__ import annotations


def test_timer_binding_runs_hourly_and_not_on_startup() -> None:
    from functions import housekeeping

    trigger = housekeeping.housekeeping_timer.build().get_trigger().get_dict_repr()
    assert trigger["type"] == "timerTrigger"
    assert trigger["schedule"] == "0 41 * * * *" and trigger["runOnStartup"] is False


def test_registered_in_the_app() -> None:
    from tests.app_index import indexed_functions

    assert indexed_functions()["housekeeping_timer"]["type"] == "timerTrigger"
