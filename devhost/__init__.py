"""Local development tooling for bookbridge (never deployed).

``devhost.azurite`` starts the Azurite storage emulator, ``devhost.functions_host`` hosts the
function app like the Azure Functions host, ``devhost.settings_loader`` reads local settings.
"""
