"""DMarket request signing: the exact bytes signed, the accepted key forms, and what reaches the wire."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import httpx
import pytest
from nacl.signing import SigningKey, VerifyKey

from sandbox.dmarket import sign_request  # DMarket's reference algorithm, written independently of ours
from worker.dmarket.signing import InvalidKeyError, Signer

SEED = SigningKey(bytes(range(32)))
PUBLIC_HEX = SEED.verify_key.encode().hex()
SEED_HEX = bytes(range(32)).hex()
FULL_SECRET_HEX = SEED_HEX + PUBLIC_HEX
PARAMS = {"gameId": "a8db", "title": "StatTrak™ AK-47 | Redline (Field-Tested)", "limit": 100}
PATH_WITH_QUERY = "/exchange/v1/market/items?" + urlencode(PARAMS, quote_via=quote)


def test_the_signature_covers_method_path_with_query_body_and_timestamp_exactly() -> None:
    headers = Signer(PUBLIC_HEX, FULL_SECRET_HEX).headers("get", PATH_WITH_QUERY, body="", timestamp=1_700_000_000)
    assert headers["X-Api-Key"] == PUBLIC_HEX
    assert headers["X-Sign-Date"] == "1700000000"
    prefix, signature = headers["X-Request-Sign"].rsplit(" ", 1)
    assert prefix == "dmar ed25519"
    expected_message = (
        b"GET/exchange/v1/market/items?gameId=a8db"
        b"&title=StatTrak%E2%84%A2%20AK-47%20%7C%20Redline%20%28Field-Tested%29&limit=100"
        b"1700000000"
    )
    VerifyKey(bytes.fromhex(PUBLIC_HEX)).verify(expected_message, bytes.fromhex(signature))


def test_matches_dmarkets_reference_signer_byte_for_byte() -> None:
    ours = Signer(PUBLIC_HEX, FULL_SECRET_HEX).headers("POST", "/exchange/v1/offers-buy", '{"a":1}', 1_700_000_123)
    reference = sign_request(FULL_SECRET_HEX, "POST", "/exchange/v1/offers-buy", '{"a":1}', 1_700_000_123)
    assert ours == reference


def test_a_64_hex_seed_and_the_128_hex_nacl_key_sign_identically() -> None:
    short = Signer(PUBLIC_HEX, SEED_HEX).headers("GET", PATH_WITH_QUERY, timestamp=1)
    full = Signer(PUBLIC_HEX, FULL_SECRET_HEX.upper()).headers("GET", PATH_WITH_QUERY, timestamp=1)
    assert short == full


def test_every_call_signs_afresh_with_the_current_time() -> None:
    signer = Signer(PUBLIC_HEX, SEED_HEX)
    assert signer.headers("GET", "/x?a=1", timestamp=1) != signer.headers("GET", "/x?a=1", timestamp=2)


@pytest.mark.parametrize(
    ("public", "secret", "message"),
    [
        (PUBLIC_HEX, SEED_HEX[:-2], "64 characters \\(seed\\) or 128 characters"),
        (PUBLIC_HEX, "zz" * 32, "must be hex"),
        (PUBLIC_HEX, SEED_HEX + "00" * 32, "second half is not the public key of its first half"),
        ("00" * 32, SEED_HEX, "does not belong to DMARKET_PUBLIC_KEY"),
        ("abc", SEED_HEX, "DMARKET_PUBLIC_KEY must be 64 hex characters"),
    ],
)
def test_key_material_that_cannot_work_is_refused_with_what_was_expected(
    public: str, secret: str, message: str
) -> None:
    with pytest.raises(InvalidKeyError, match=message):
        Signer(public, secret)


def test_the_signer_never_shows_its_secret() -> None:
    signer = Signer(PUBLIC_HEX, FULL_SECRET_HEX)
    assert SEED_HEX not in repr(signer)
    assert SEED_HEX not in str(vars(signer) if hasattr(signer, "__dict__") else "")


def test_httpx_sends_the_signed_target_unchanged() -> None:
    # What the client does: pass the whole URL as a string; httpx must not re-encode the query.
    request = httpx.Request("GET", "https://api.dmarket.com" + PATH_WITH_QUERY)
    assert request.url.raw_path.decode("ascii") == PATH_WITH_QUERY
