"""DMarket request signing: the server-side check, a reference signer, and the sandbox demo keypair.

Written from DMarket's published contract (dmarket/dm-trading-tools, ``signature-builder/``), not
from this project's client, so the sandbox checks the product's signer independently:

    METHOD + route path (percent-DECODED) + "?" + query (exactly as sent) + body + X-Sign-Date

signed with Ed25519; headers ``X-Api-Key: <public key hex>``, ``X-Sign-Date: <unix seconds>``,
``X-Request-Sign: dmar ed25519 <signature hex>``. The secret key is NaCl's 64-byte form (seed followed
by public key, 128 hex chars); the signature is the first 64 bytes of ``crypto_sign``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from enum import Enum
from urllib.parse import unquote_to_bytes

from nacl.bindings import crypto_sign
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

SIGNATURE_PREFIX = "dmar ed25519 "
API_KEY_HEADER = "X-Api-Key"
SIGN_DATE_HEADER = "X-Sign-Date"
SIGNATURE_HEADER = "X-Request-Sign"
_AUTH_HEADERS = (API_KEY_HEADER, SIGN_DATE_HEADER, SIGNATURE_HEADER)

_PUBLIC_KEY_RE = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE_RE = re.compile(r"[0-9a-fA-F]{128}")

# SANDBOX-ONLY demo keypair. Derived from a published constant, so anyone can recompute the secret:
# it authenticates against this sandbox and nothing else. Never use it (or this seed) for real.
_DEMO_KEY_SEED = hashlib.sha256(b"sandbox.dmarket demo key -- SANDBOX ONLY, not a DMarket key").digest()
DEMO_PUBLIC_KEY_HEX = SigningKey(_DEMO_KEY_SEED).verify_key.encode().hex()
DEMO_SECRET_KEY_HEX = _DEMO_KEY_SEED.hex() + DEMO_PUBLIC_KEY_HEX


class AuthFailure(Enum):
    """Why a request was refused with 401. The value is the message sent to the client."""

    MISSING_HEADERS = "X-Api-Key, X-Sign-Date and X-Request-Sign must be sent together"
    MALFORMED_API_KEY = "X-Api-Key must be a 64-character hex Ed25519 public key"
    UNKNOWN_API_KEY = "API key not found"
    MALFORMED_SIGN_DATE = "X-Sign-Date must be a unix timestamp in whole seconds"
    SIGN_DATE_EXPIRED = "X-Sign-Date is too old: request signature expired"
    SIGN_DATE_IN_FUTURE = "X-Sign-Date is too far in the future"
    MALFORMED_SIGNATURE = "X-Request-Sign must be 'dmar ed25519 ' followed by a 128-character hex signature"
    BAD_SIGNATURE = "signature does not match the request"


class AuthError(Exception):
    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.value)
        self.failure = failure


def normalize_public_key(public_key_hex: str) -> str:
    """Lower-case hex of a 32-byte public key; ``ValueError`` if it is not one."""
    if not _PUBLIC_KEY_RE.fullmatch(public_key_hex):
        raise ValueError(f"not a 64-character hex Ed25519 public key: {public_key_hex!r}")
    return public_key_hex.lower()


def _nacl_secret_key(secret_key_hex: str) -> bytes:
    """The 64-byte NaCl secret key from its 128-hex form, or from a bare 64-hex seed."""
    raw = bytes.fromhex(secret_key_hex)
    if len(raw) not in (32, 64):
        raise ValueError("secret key must be 64 hex chars (seed) or 128 hex chars (seed + public key)")
    seed = raw[:32]
    public = SigningKey(seed).verify_key.encode()
    # crypto_sign trusts the public half of the secret key; a mismatched one yields signatures that
    # verify against nothing, so refuse it here rather than debug a 401 later.
    if len(raw) == 64 and raw[32:] != public:
        raise ValueError("secret key's public half does not match its seed")
    return seed + public


def sign_request(
    secret_key_hex: str,
    method: str,
    path_with_query: str,
    body: str = "",
    timestamp: int | None = None,
) -> dict[str, str]:
    """Reference signer following DMarket's official Python example; returns the three auth headers.

    ``path_with_query`` is what DMarket signs: the decoded route path plus ``?`` and the query string
    exactly as it will be sent, e.g. ``"/exchange/v1/market/items?" + urlencode(params, quote_via=quote)``.
    """
    secret = _nacl_secret_key(secret_key_hex)
    sign_date = str(round(time.time()) if timestamp is None else timestamp)
    message = (method.upper() + path_with_query + body + sign_date).encode("utf-8")
    signature = crypto_sign(message, secret)[:64].hex()
    return {
        API_KEY_HEADER: secret[32:].hex(),
        SIGN_DATE_HEADER: sign_date,
        SIGNATURE_HEADER: SIGNATURE_PREFIX + signature,
    }


def string_to_sign(method: str, raw_path: bytes, query_string: bytes, body: bytes, sign_date: str) -> bytes:
    """Rebuild the signed message from the request as received, the way DMarket does.

    The route path is percent-decoded; the query is taken byte for byte as it came over the wire, so
    any re-encoding between signing and sending breaks the signature, exactly as on DMarket.
    """
    query = b"?" + query_string if query_string else b""
    return method.upper().encode() + unquote_to_bytes(raw_path) + query + body + sign_date.encode()


def _parse_sign_date(value: str, now: float, max_clock_skew_s: int) -> None:
    if not value.isascii() or not value.isdigit():
        raise AuthError(AuthFailure.MALFORMED_SIGN_DATE)
    age_s = now - int(value)
    if age_s > max_clock_skew_s:
        raise AuthError(AuthFailure.SIGN_DATE_EXPIRED)
    if -age_s > max_clock_skew_s:
        raise AuthError(AuthFailure.SIGN_DATE_IN_FUTURE)


def _parse_signature(value: str) -> bytes:
    hex_part = value.removeprefix(SIGNATURE_PREFIX)
    if hex_part == value or not _SIGNATURE_RE.fullmatch(hex_part):
        raise AuthError(AuthFailure.MALFORMED_SIGNATURE)
    return bytes.fromhex(hex_part)


def authenticate(
    headers: Mapping[str, str],
    *,
    method: str,
    raw_path: bytes,
    query_string: bytes,
    body: bytes,
    accepted_keys: frozenset[str],
    now: float,
    max_clock_skew_s: int,
) -> str | None:
    """The verified public key (lower-case hex), or ``None`` for a request with no auth headers at all.

    ``headers`` must look names up case-insensitively (Starlette's ``Headers`` does). Raises
    :class:`AuthError` naming the first problem found.
    """
    values = [headers.get(name) for name in _AUTH_HEADERS]
    if all(value is None for value in values):
        return None  # keyless: allowed by DMarket for public market data, at a lower rate limit
    api_key, sign_date, signature = values
    if api_key is None or sign_date is None or signature is None:
        raise AuthError(AuthFailure.MISSING_HEADERS)
    try:
        public_key = normalize_public_key(api_key)
    except ValueError:
        raise AuthError(AuthFailure.MALFORMED_API_KEY) from None
    if public_key not in accepted_keys:
        raise AuthError(AuthFailure.UNKNOWN_API_KEY)
    _parse_sign_date(sign_date, now, max_clock_skew_s)
    signature_bytes = _parse_signature(signature)
    message = string_to_sign(method, raw_path, query_string, body, sign_date)
    try:
        VerifyKey(bytes.fromhex(public_key)).verify(message, signature_bytes)
    except BadSignatureError:
        raise AuthError(AuthFailure.BAD_SIGNATURE) from None
    return public_key
