"""Keys from a JWKS endpoint (a real HTTP server on loopback), followed as the provider rotates."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from server.auth import jwks
from server.auth.jwks import JwksUnavailable
from server.auth.tokens import TokenVerifier, Unauthenticated


class Provider:
    """Publishes the public halves of its current keys; counts the fetches."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                body = json.dumps({"keys": [provider.jwk(kid) for kid in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate_in(self, kid: str) -> None:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def jwk(self, kid: str) -> dict[str, Any]:
        public = jwt.algorithms.ECAlgorithm.to_jwk(self.keys[kid].public_key(), as_dict=True)
        return {**public, "kid": kid, "use": "sig", "alg": "ES256"}

    def token(self, kid: str, user: str = "9") -> str:
        claims = {"sub": user, "roles": ["ROLE_USER"], "collection_id": 7, "exp": time.time() + 60}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    provider.rotate_in("k1")
    yield provider
    provider.server.shutdown()


def test_a_rotated_in_key_is_fetched_on_its_first_token(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier.from_files("ES256", jwks_url=provider.url)
    assert verifier.verify(provider.token("k1")).user_id == "9"
    assert provider.fetches == 1  # at start only

    provider.rotate_in("k2")
    monkeypatch.setattr(jwks, "MIN_REFETCH_S", 0.0)
    assert verifier.verify(provider.token("k2", user="10")).user_id == "10"
    assert provider.fetches == 2


def test_unknown_key_ids_cost_at_most_one_fetch_per_interval(provider: Provider) -> None:
    verifier = TokenVerifier.from_files("ES256", jwks_url=provider.url)
    stranger = Provider()
    stranger.rotate_in("forged")
    try:
        for n in range(20):
            with pytest.raises(Unauthenticated, match="key id is not in the JWKS"):
                verifier.verify(stranger.token("forged", user=str(n)))
    finally:
        stranger.server.shutdown()
    assert provider.fetches == 1  # the start's; the next may come MIN_REFETCH_S later


def test_keys_are_kept_when_a_refresh_fails_and_renewed_after_their_lifespan(
    provider: Provider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = TokenVerifier.from_files("ES256", jwks_url=provider.url)
    provider.server.shutdown()
    provider.server.server_close()  # the endpoint is gone
    monkeypatch.setattr(jwks, "JWKS_LIFESPAN_S", 0.0)
    monkeypatch.setattr(jwks, "MIN_REFETCH_S", 0.0)
    assert verifier.verify(provider.token("k1", user="11")).user_id == "11"
    assert "JWKS refresh from" in caplog.text and "keeping the keys held" in caplog.text


def test_a_server_whose_jwks_cannot_be_fetched_refuses_to_start() -> None:
    with pytest.raises(JwksUnavailable, match=r"--jwt-jwks-url http://127\.0\.0\.1:1/"):
        TokenVerifier.from_files("ES256", jwks_url="http://127.0.0.1:1/jwks.json")
