"""The bookbridge Function App: creates the app and registers the blueprints of ``functions/``."""
import azure.functions as func

from functions import health

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (health.bp,):
    app.register_functions(blueprint)
