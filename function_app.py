"""The bookbridge Function App: creates the app and registers the blueprints of ``functions/``.

One ``register_functions`` call per line, as the Azure samples do: static checkers (azure-functions-doctor)
read this file and do not follow a loop.
"""
import azure.functions as func

from functions import (
                       backfill_sweep,
                       booking_admin,
                       communications_worker,
                       connections,
                       health,
                       housekeeping,
                       inbound,
                       management,
                       meetings_worker,
                       openapi,
                       pages,
                       public_booking,
                       webhooks,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(health.bp)
app.register_functions(connections.bp)
app.register_functions(meetings_worker.bp)
app.register_functions(management.bp)
app.register_functions(public_booking.bp)
app.register_functions(communications_worker.bp)
app.register_functions(pages.bp)
app.register_functions(backfill_sweep.bp)
app.register_functions(openapi.bp)
app.register_functions(booking_admin.bp)
app.register_functions(webhooks.bp)
app.register_functions(inbound.bp)
app.register_functions(housekeeping.bp)
