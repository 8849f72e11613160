"""The bookbridge Function App: creates the app and registers the blueprints of ``functions/``."""
import azure.functions as func

from functions import (backfill_sweep, communications_worker, connections, health, management, meetings_worker, pages,
                       public_booking)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (health.bp, connections.bp, meetings_worker.bp, management.bp, public_booking.bp,
                  communications_worker.bp, pages.bp, backfill_sweep.bp):
    app.register_functions(blueprint)
