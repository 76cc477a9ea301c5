"""Builds the token verifier the server runs with, from the settings."""

from __future__ import annotations

from server.auth.jwks import JwksUnavailable
from server.auth.tokens import TokenVerifier, ensure_secret
from server.config import Settings


class KeyConfigurationError(Exception):
    """The settings name no usable key; the message says which setting to give."""


def token_verifier(settings: Settings) -> TokenVerifier:
    secret_file = ""
    if settings.jwt_algorithm == "HS256":
        path = settings.hs256_secret_file()
        if path is None:
            raise KeyConfigurationError(
                "HS256 with a configured database needs --jwt-secret-file "
                "(or choose RS256/ES256 with --jwt-public-key-file, --jwt-jwks-file or "
                "--jwt-jwks-url)"
            )
        if not path.exists() and not settings.jwt_secret_file:
            ensure_secret(path)
        secret_file = str(path)
    try:
        return TokenVerifier.from_files(
            settings.jwt_algorithm,
            secret_file=secret_file,
            public_key_file=settings.jwt_public_key_file,
            jwks_file=settings.jwt_jwks_file,
            jwks_url=settings.jwt_jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway,
        )
    except (OSError, ValueError, JwksUnavailable) as error:
        raise KeyConfigurationError(str(error)) from error
