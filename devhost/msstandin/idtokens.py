"""The stand-in's token signing key, its JWKS document and ID tokens (RS256, PyJWT)."""
from __future__ import annotations

import base64
import hashlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .state import Account


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    """An RSA key with a self-signed certificate, published like Entra's signing keys."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stand-in token signing")])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                .sign(self._key, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        self.x5t = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
        self.kid = self.x5t
        self._x5c = base64.b64encode(der).decode()
        self.private_pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwks(self, issuer: str) -> dict[str, Any]:
        """The ``discovery/v2.0/keys`` document."""
        numbers = self._key.public_key().public_numbers()
        return {"keys": [{
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t,
            "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e),
            "x5c": [self._x5c], "issuer": issuer,
        }]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWT with ``kid`` and ``x5t`` headers."""
        import jwt

        return jwt.encode(claims, self.private_pem, algorithm="RS256",
                          headers={"kid": self.kid, "x5t": self.x5t, "typ": "JWT"})


def pairwise_sub(account: Account, client_id: str) -> str:
    """Entra's ``sub`` is pairwise: stable per (account, application)."""
    digest = hashlib.sha256(f"{account.oid}|{client_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:32]).rstrip(b"=").decode()


def id_token_claims(account: Account, client_id: str, issuer_host: str, nonce: str | None,
                    scopes: tuple[str, ...], lifetime_s: int = 3600) -> dict[str, Any]:
    """The v2.0 ID token claims Entra issues for an account signing in to ``client_id``."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": client_id,
        "iss": f"{issuer_host}/{account.tid}/v2.0",
        "iat": now, "nbf": now, "exp": now + lifetime_s,
        "name": account.display_name,
        "oid": account.oid,
        "preferred_username": account.upn,
        "rh": "0.stand-in." + uuid.uuid4().hex[:16],
        "sub": pairwise_sub(account, client_id),
        "tid": account.tid,
        "uti": uuid.uuid4().hex[:22],
        "ver": "2.0",
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if "email" in scopes:
        claims["email"] = account.upn
    if account.is_personal:
        claims["idp"] = "live.com"
    return claims
