"""A local stand-in of Google's OAuth 2.0 endpoints and Calendar v3 (dev and tests only, never deployed).

``GoogleStandIn().start()`` serves on ``http://127.0.0.1:PORT``: the authorization page and token endpoint
(authorization code with PKCE, an OpenID Connect ``id_token``, refresh, ``invalid_grant`` once revoked),
``freeBusy.query`` and ``events`` insert/patch/delete/get with ``conferenceData`` (Google Meet), and a
``/_sandbox`` of its own (accounts, outside events, revoke, failures, recorded requests). Every Calendar
request and answer and every token exchange is checked against ``contract/calendar-v3-subset.json``.
"""
from devhost.googlestandin.server import GoogleStandIn

__all__ = ["GoogleStandIn"]
