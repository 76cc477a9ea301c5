"""TLS and mutual TLS between internal services, with certificates made by the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

from tests.certificates import Pki, make_pki
from tests.identities import as_caller
from tests.servers import ServerProcess


def _create(channel: grpc.Channel) -> int:
    return (
        CartServiceStub(channel)
        .CreateCart(pb.CreateCartRequest(), metadata=as_caller("tls-user"), timeout=10)
        .carts[0]
        .id
    )


def test_tls_server_serves_tls_clients_only(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    server = ServerProcess.start(
        tmp_path,
        database_url="",
        extra=("--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key)),
    )
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        with grpc.secure_channel(f"localhost:{server.port}", credentials) as channel:
            assert _create(channel) > 0
        with grpc.insecure_channel(server.address) as plain, pytest.raises(grpc.RpcError) as raised:
            _create(plain)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def mutual_tls_server(tmp_path: Path) -> tuple[Pki, ServerProcess]:
    """A server requiring client certificates from the test CA, and that PKI."""
    pki = make_pki(tmp_path)
    server = ServerProcess.start(
        tmp_path, database_url="",
        extra=("--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key), "--tls-client-ca-file", str(pki.ca)),
    )  # fmt: skip
    return pki, server


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path: Path) -> None:
    pki, server = mutual_tls_server(tmp_path)
    try:
        with_client_cert = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
        )
        with grpc.secure_channel(f"localhost:{server.port}", with_client_cert) as channel:
            assert _create(channel) > 0
        without = grpc.ssl_channel_credentials(root_certificates=pki.ca.read_bytes())
        with (
            grpc.secure_channel(f"localhost:{server.port}", without) as channel,
            pytest.raises(grpc.RpcError) as raised,
        ):
            _create(channel)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()


def test_the_health_command_follows_the_serve_settings_in_its_environment(tmp_path: Path) -> None:
    """What a container's HEALTHCHECK runs: `cartservice health`, with the image's environment."""
    pki, server = mutual_tls_server(tmp_path)
    environment = {
        **os.environ,
        "CARTSERVICE_PORT": str(server.port),
        "CARTSERVICE_TLS_CERT_FILE": str(pki.server_cert),
        "CARTSERVICE_HEALTH_CA_FILE": str(pki.ca),
    }
    with_client = {
        **environment,
        "CARTSERVICE_HEALTH_CERT_FILE": str(pki.client_cert),
        "CARTSERVICE_HEALTH_KEY_FILE": str(pki.client_key),
    }
    try:
        checks = [
            subprocess.run(
                [sys.executable, "-m", "server", "health"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            for env in (with_client, environment)
        ]
    finally:
        server.stop()
    assert (checks[0].returncode, checks[0].stdout.strip()) == (0, "SERVING"), checks[0].stderr
    assert checks[1].returncode == 1  # no client certificate: the server refuses it
