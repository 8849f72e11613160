"""A throw-away local CA and a server certificate for 127.0.0.1 / localhost (``trustme``)."""
from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

CA_BUNDLE_NAME = "standin-ca.pem"


@dataclass
class ServerTLS:
    """The server's SSL context and the path of the CA bundle clients must trust."""

    context: ssl.SSLContext
    ca_bundle_path: Path


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_server_tls(cert_dir: str | os.PathLike[str], *, bundle_name: str = CA_BUNDLE_NAME) -> ServerTLS:
    """Generate a CA and a server certificate; write the CA PEM to ``cert_dir/bundle_name``.

    The CA is new on every call, so clients must (re)read the bundle after the stand-in starts.
    """
    import trustme

    ca = trustme.CA(organization_name="bookbridge Microsoft stand-in (dev only)")
    server_cert = ca.issue_cert("127.0.0.1", "localhost", "::1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_cert.configure_cert(context)
    bundle = Path(cert_dir) / bundle_name
    _atomic_write(bundle, ca.cert_pem.bytes())
    return ServerTLS(context, bundle)
