"""DMarket request signing (dmarket/dm-trading-tools, signature-builder/).

The signed string is METHOD + path-with-query exactly as sent (percent-encoded) + body + X-Sign-Date,
signed with Ed25519; the signature is the 64-byte detached signature in hex.
"""

from __future__ import annotations

import re
import time

from nacl.signing import SigningKey

SIGNATURE_PREFIX = "dmar ed25519 "
_HEX_RE = re.compile(r"[0-9a-fA-F]+")


class InvalidKeyError(ValueError):
    """The key material is malformed or the halves do not belong together; the message says what was expected."""


class Signer:
    """Holds one DMarket keypair and produces the three auth headers for a request.

    ``repr`` never shows the key, so a signer in a frame's locals cannot leak it into a Sentry event.
    """

    __slots__ = ("_key", "public_key_hex")

    def __init__(self, public_key_hex: str, secret_key_hex: str) -> None:
        self._key = _signing_key(secret_key_hex)
        derived = self._key.verify_key.encode().hex()
        if not _HEX_RE.fullmatch(public_key_hex) or len(public_key_hex) != 64:
            raise InvalidKeyError("DMARKET_PUBLIC_KEY must be 64 hex characters")
        if derived != public_key_hex.lower():
            raise InvalidKeyError(
                "DMARKET_SECRET_KEY does not belong to DMARKET_PUBLIC_KEY: "
                f"the secret key's public half is {derived[:8]}..., the public key is {public_key_hex[:8].lower()}..."
            )
        self.public_key_hex = derived

    def __repr__(self) -> str:
        return f"Signer(public_key={self.public_key_hex[:8]}...)"

    def headers(
        self, method: str, path_with_query: str, body: str = "", timestamp: int | None = None
    ) -> dict[str, str]:
        """X-Api-Key, X-Sign-Date and X-Request-Sign for one request; call again for every retry."""
        sign_date = str(int(time.time()) if timestamp is None else timestamp)
        message = f"{method.upper()}{path_with_query}{body}{sign_date}".encode()
        signature = self._key.sign(message).signature.hex()
        return {
            "X-Api-Key": self.public_key_hex,
            "X-Sign-Date": sign_date,
            "X-Request-Sign": SIGNATURE_PREFIX + signature,
        }


def _signing_key(secret_key_hex: str) -> SigningKey:
    """The key from a 64-hex seed, or from NaCl's 128-hex seed + public key (whose halves must agree)."""
    if not _HEX_RE.fullmatch(secret_key_hex) or len(secret_key_hex) not in (64, 128):
        raise InvalidKeyError(
            "DMARKET_SECRET_KEY must be hex: 64 characters (seed) or 128 characters (seed + public key), "
            f"got {len(secret_key_hex)} characters"
        )
    raw = bytes.fromhex(secret_key_hex)
    key = SigningKey(raw[:32])
    # NaCl's crypto_sign trusts the public half it is given: a mismatched one would sign with a key DMarket
    # cannot verify, and every request would fail with 401 for no visible reason.
    if len(raw) == 64 and raw[32:] != key.verify_key.encode():
        raise InvalidKeyError(
            "DMARKET_SECRET_KEY is 128 hex characters but its second half is not the public key of its first half"
        )
    return key
