"""Signing keys from an identity provider's JWKS endpoint, kept current as it rotates them.

Fetched at start (a server that cannot get its keys refuses to start), again when a token names
a key id the set lacks (a new key was published), and every JWKS_LIFESPAN_S. Fetches block the
event loop, so they are rare by construction: at most one every MIN_REFETCH_S whatever the
tokens say (a stream of made-up key ids cannot turn into a stream of fetches), with a short
timeout; when a refresh fails the keys already held stay in use.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt

log = logging.getLogger("cartservice")
JWKS_LIFESPAN_S = 300.0
MIN_REFETCH_S = 10.0
FETCH_TIMEOUT_S = 2.0


class JwksUnavailable(Exception):
    """The endpoint gave no key set."""


class JwksKeys:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_S)
        self._fetched_at = 0.0
        try:
            self._keys = self._client.get_jwk_set()
        except jwt.PyJWKClientError as error:
            raise JwksUnavailable(f"--jwt-jwks-url {url}: {error}") from None
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any | None:
        """The key `kid` names (the only one, if the token names none), or None."""
        now = time.monotonic()
        stale = now - self._fetched_at >= JWKS_LIFESPAN_S
        found = None if stale else _find(self._keys, kid)
        if found is None and now - self._fetched_at >= MIN_REFETCH_S:
            self._refresh(now)
            found = _find(self._keys, kid)
        return found

    def _refresh(self, now: float) -> None:
        self._fetched_at = now  # also on failure: the next attempt waits its turn
        try:
            self._keys = self._client.get_jwk_set()
        except jwt.PyJWKClientError as error:
            log.warning("JWKS refresh from %s failed, keeping the keys held: %s", self._url, error)


def _find(keys: jwt.PyJWKSet, kid: str | None) -> Any | None:
    if kid is None:
        return keys.keys[0].key if len(keys.keys) == 1 else None
    for candidate in keys.keys:
        if candidate.key_id == kid:
            return candidate.key
    return None
