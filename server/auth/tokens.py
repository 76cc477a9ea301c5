"""Verifies (and, for local use, mints) the JWTs that carry a caller's identity.

Claims: sub (user id), roles (list of ROLE_*), collection_id (the tenant), channel, and optionally
act_on_behalf_of_user. HS256 with a shared secret, or RS256/ES256 with a public key given as a
PEM file or a JWKS file. exp and nbf are checked when present (and exp is required); iss and aud
when configured; `leeway` seconds of clock skew are allowed.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from server.auth.identity import Identity, Role
from server.auth.jwks import JwksKeys

ALGORITHMS = ("HS256", "RS256", "ES256")
MAX_VERIFIED_TOKENS = 10_000


class Unauthenticated(Exception):
    """A missing or unacceptable credential; the message says why, never what the token was."""


@dataclass(frozen=True)
class TokenVerifier:
    algorithm: str
    key: Any  # the HS256 secret, a PEM public key, or a jwt.PyJWKSet
    issuer: str = ""
    audience: str = ""
    leeway: float = 30.0

    @classmethod
    def from_files(
        cls,
        algorithm: str,
        *,
        secret_file: str = "",
        public_key_file: str = "",
        jwks_file: str = "",
        jwks_url: str = "",
        issuer: str = "",
        audience: str = "",
        leeway: float = 30.0,
    ) -> TokenVerifier:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported JWT algorithm {algorithm}; use one of {ALGORITHMS}")
        if algorithm == "HS256":
            if not secret_file:
                raise ValueError("HS256 needs --jwt-secret-file")
            key: Any = Path(secret_file).read_text().strip()
        elif jwks_url:
            key = JwksKeys(jwks_url)
        elif jwks_file:
            key = jwt.PyJWKSet.from_json(Path(jwks_file).read_text())
        elif public_key_file:
            key = Path(public_key_file).read_text()
        else:
            raise ValueError(
                f"{algorithm} needs --jwt-public-key-file, --jwt-jwks-file or --jwt-jwks-url"
            )
        return cls(algorithm, key, issuer, audience, leeway)

    # Verified tokens, until they expire: a caller sends the same token with every call, and
    # checking its signature and claims again is the same answer at a price (bench/README.md).
    _verified: dict[str, tuple[Identity, float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def verify(self, token: str) -> Identity:
        cached = self._verified.get(token)
        if cached is not None:
            identity, valid_until = cached
            if time.time() < valid_until:
                return identity
            del self._verified[token]
        claims = self._verified_claims(token)
        identity = identity_from_claims(claims)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        self._verified[token] = (identity, float(claims["exp"]) + self.leeway)
        return identity

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=[self.algorithm],
                issuer=self.issuer or None,
                audience=self.audience or None,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": bool(self.audience)},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("token expired") from error
        except jwt.ImmatureSignatureError as error:
            raise Unauthenticated("token not yet valid (nbf)") from error
        except jwt.InvalidSignatureError as error:
            raise Unauthenticated("bad token signature") from error
        except jwt.InvalidAudienceError as error:
            raise Unauthenticated("token audience is not this service") from error
        except jwt.InvalidIssuerError as error:
            raise Unauthenticated("token issuer is not trusted") from error
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(f"token lacks the {error.claim} claim") from error
        except jwt.InvalidAlgorithmError as error:
            raise Unauthenticated(f"token algorithm is not {self.algorithm}") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"malformed token ({error.__class__.__name__})") from error
        return claims

    def _key_for(self, token: str) -> Any:
        if not isinstance(self.key, jwt.PyJWKSet | JwksKeys):
            return self.key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise Unauthenticated("malformed token header") from error
        if isinstance(self.key, JwksKeys):
            found = self.key.key_for(kid)
            if found is None:
                raise Unauthenticated("token key id is not in the JWKS")
            return found
        for candidate in self.key.keys:
            if kid is None or candidate.key_id == kid:
                return candidate.key
        raise Unauthenticated("token key id is not in the JWKS")


@functools.lru_cache(maxsize=64)
def role_set(roles: tuple[str, ...]) -> frozenset[Role]:
    """One shared set per combination of roles: every open stream keeps its caller's identity,
    and a frozenset of one role is 216 bytes."""
    return frozenset(Role(role) for role in roles)


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    roles = claims.get("roles")
    if not isinstance(roles, list) or not roles:
        raise Unauthenticated("token lacks the roles claim")
    try:
        parsed_roles = role_set(tuple(roles))
    except (ValueError, TypeError) as error:
        known = ", ".join(r.value for r in Role)
        raise Unauthenticated(f"token has an unknown role; known: {known}") from error
    collection = claims.get("collection_id")
    if collection is None:
        raise Unauthenticated("token lacks the collection_id claim")
    try:
        collection_id = int(collection)
    except (TypeError, ValueError) as error:
        raise Unauthenticated("token collection_id is not a number") from error
    on_behalf = claims.get("act_on_behalf_of_user")
    return Identity(
        user_id=str(claims["sub"]),
        collection_id=collection_id,
        roles=parsed_roles,
        channel=str(claims.get("channel", "")),
        act_on_behalf_of_user=str(on_behalf) if on_behalf not in (None, "", 0) else None,
    )


def mint_hs256(
    secret: str, *, user_id: str, collection_id: int, roles: list[str], channel: str = "",
    act_on_behalf_of_user: str | None = None, ttl_seconds: int = 3600, issuer: str = "",
    audience: str = "", now: float | None = None,
) -> str:  # fmt: skip
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": user_id, "roles": roles, "collection_id": collection_id,
        "iat": issued, "exp": issued + ttl_seconds,
    }  # fmt: skip
    if channel:
        claims["channel"] = channel
    if act_on_behalf_of_user:
        claims["act_on_behalf_of_user"] = act_on_behalf_of_user
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def ensure_secret(path: Path) -> str:
    """The HS256 secret kept in `path`, created (owner-readable only) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
