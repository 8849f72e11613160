"""Housekeeping: an hourly timer that deletes the traffic rows nothing will read again.

* ``housekeeping_timer`` (every hour at minute 41, not on startup): expired rate-limit counters, sign-in
  flows and connect links a day past expiry, webhook delivery records older than 30 days
  (``shared.domain.retention``). Bounded per run; the next run goes on.

Heavy modules are imported inside the handler (``import function_app`` stays light).
"""
from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="0 41 * * * *", run_on_startup=False, use_monitor=True)
def housekeeping_timer(timer: func.TimerRequest) -> None:
    """Delete the rows past their retention (see the module doc)."""
    from shared import bootstrap
    from shared.usecases.housekeeping import run_housekeeping

    c = bootstrap.container()
    run_housekeeping(c.store, c.clock)
