"""Channel tokens: generated with `secrets`, stored only as a salted SHA-256, compared in constant time.

Generated tokens carry 256 bits of entropy, so a fast hash is the right tool (as for API keys at large
providers); caller-chosen tokens must be at least 16 characters.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import BaseModel


class TokenHash(BaseModel):
    salt: str
    digest: str


def generate() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str, salt: str | None = None) -> TokenHash:
    salt = salt or secrets.token_hex(16)
    return TokenHash(salt=salt, digest=hashlib.sha256(bytes.fromhex(salt) + token.encode()).hexdigest())


def matches(token: str, stored: TokenHash) -> bool:
    return hmac.compare_digest(hash_token(token, stored.salt).digest, stored.digest)


# Compared against when the descriptor is unknown, so that an unknown channel costs the same as a wrong token.
DECOY = hash_token(secrets.token_urlsafe(32))
