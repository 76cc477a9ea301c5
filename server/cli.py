"""The `cartservice` command: serve, migrate, seed-demo, relay, token and health."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from server import log_format
from server.config import SettingError, Settings, add_arguments, from_arguments

TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Parser(argparse.ArgumentParser):
    """Bad input is one line naming what was wrong, and exit status 2; --help shows the rest."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    try:
        arguments = _parser().parse_args(argv)
    except SettingError as error:
        print(f"cartservice: {error}", file=sys.stderr)
        return 2
    return _run(arguments, argv)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cartservice", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    serve = commands.add_parser("serve", help="Run the gRPC server.")
    add_arguments(serve, "serve")
    migrate = commands.add_parser("migrate", help="Apply database migrations and exit.")
    add_arguments(migrate, "migrate")
    seed_demo = commands.add_parser(
        "seed-demo",
        help="Load the demo catalog (products and promo codes; migrates first). Repeatable.",
    )
    add_arguments(seed_demo, "migrate")
    catalog = commands.add_parser(
        "catalog", help="Load a collection's pricing catalog from a JSON file (migrates first)."
    )
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser
    )
    load = catalog_commands.add_parser(
        "load", help="Replace the collection's catalog with FILE (README, 'Pricing')."
    )
    add_arguments(load, "migrate")
    load.add_argument("file", metavar="FILE", help="the catalog document (JSON)")
    load.add_argument(
        "--collection-id", type=int, required=True, help="the collection; 0: the default catalog"
    )
    relay = commands.add_parser(
        "relay", help="Run the outbox relay alone (publish committed events) until stopped."
    )
    add_arguments(relay, "relay")
    token = commands.add_parser(
        "token", help="Mint an HS256 token for local use with the configured secret; prints it."
    )
    add_arguments(token, "token")
    token.add_argument("--user-id", required=True, help="sub claim")
    token.add_argument("--collection-id", type=int, required=True, help="collection_id claim")
    token.add_argument(
        "--roles", required=True, help="comma-separated: ROLE_USER,ROLE_CART_ADMIN,…"
    )
    token.add_argument("--channel", default="", help="channel claim, e.g. CSR")
    token.add_argument("--act-on-behalf-of", default="", help="act_on_behalf_of_user claim")
    token.add_argument(
        "--ttl", default=3600, type=ttl_seconds, help="lifetime: 3600, 90s, 30m, 12h, 7d"
    )
    check = commands.add_parser(
        "health", help="Ask a running server's health service; exit 0 if SERVING."
    )
    _health_arguments(check)
    return parser


def _health_arguments(check: argparse.ArgumentParser) -> None:
    """Defaults from the serve settings in the environment, so that a container's HEALTHCHECK
    is `cartservice health` whatever its port and whether it serves TLS."""
    env = os.environ.get
    serve_cert = env("CARTSERVICE_TLS_CERT_FILE", "")
    check.add_argument(
        "--address",
        default=f"127.0.0.1:{env('CARTSERVICE_PORT', '50051')}",
        help="host:port of the server [default 127.0.0.1:$CARTSERVICE_PORT, else 50051]",
    )
    check.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer")
    check.add_argument(
        "--tls",
        action="store_true",
        default=bool(serve_cert),
        help="connect with TLS [default: when CARTSERVICE_TLS_CERT_FILE is set]",
    )
    check.add_argument(
        "--ca-file",
        default=env("CARTSERVICE_HEALTH_CA_FILE", serve_cert),
        help="PEM roots that signed the server's certificate [env CARTSERVICE_HEALTH_CA_FILE; "
        "default: the server's own chain, CARTSERVICE_TLS_CERT_FILE]",
    )
    check.add_argument(
        "--server-name",
        default=env("CARTSERVICE_HEALTH_SERVER_NAME", ""),
        help="name to check the certificate against [default: the first DNS name of "
        "CARTSERVICE_TLS_CERT_FILE]",
    )
    check.add_argument(
        "--cert-file",
        default=env("CARTSERVICE_HEALTH_CERT_FILE", ""),
        help="client certificate, for a server that requires one (mutual TLS)",
    )
    check.add_argument(
        "--key-file", default=env("CARTSERVICE_HEALTH_KEY_FILE", ""), help="its private key"
    )


def _run(arguments: argparse.Namespace, argv: list[str] | None) -> int:
    if arguments.command == "health":
        return _health(arguments)
    settings = from_arguments(arguments)
    if arguments.command == "token":
        return _token(settings, arguments)
    log_format.configure(settings.log_level, settings.log_format)
    if arguments.command == "migrate":
        return asyncio.run(_migrate(settings))
    if arguments.command == "seed-demo":
        return asyncio.run(_seed_demo(settings))
    if arguments.command == "catalog":
        return _load_catalog(settings, arguments.file, arguments.collection_id)
    if arguments.command == "relay":
        from server.app import CannotListen, run_relay

        try:
            asyncio.run(run_relay(settings))
        except CannotListen as error:
            logging.getLogger("cartservice").error("cannot relay: %s", error)
            return 2
        return 0
    return _serve(settings, sys.argv[1:] if argv is None else argv)


def _serve(settings: Settings, argv: list[str]) -> int:
    from server.app import CannotListen
    from server.app import serve as run_server
    from server.auth.setup import KeyConfigurationError
    from server.workers import WorkersError, run_workers

    log = logging.getLogger("cartservice")
    try:
        if settings.workers > 1:
            return run_workers(settings, argv)
        asyncio.run(run_server(settings))
    except KeyConfigurationError as error:
        log.error("cannot verify tokens: %s", error)
        return 2
    except (CannotListen, WorkersError) as error:
        log.error("cannot serve: %s", error)
        return 2
    return 0


def ttl_seconds(text: str) -> int:
    ttl = text.strip()
    unit = TTL_UNITS.get(ttl[-1:], 1)
    digits = ttl[:-1] if ttl[-1:] in TTL_UNITS else ttl
    if not digits.isascii() or not digits.isdigit() or int(digits) == 0:
        raise argparse.ArgumentTypeError(
            f"accepts a positive number of seconds, or one with a unit: 90s, 30m, 12h, 7d; "
            f"got {text!r}"
        )
    return int(digits) * unit


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cartservice")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _token(settings: Settings, arguments: argparse.Namespace) -> int:
    from server.auth.tokens import ensure_secret, mint_hs256

    path = settings.hs256_secret_file()
    if path is None:
        print(
            "token needs --jwt-secret-file (or the embedded default's --data-dir)", file=sys.stderr
        )
        return 2
    print(
        mint_hs256(
            ensure_secret(path),
            user_id=arguments.user_id,
            collection_id=arguments.collection_id,
            roles=[role.strip() for role in arguments.roles.split(",") if role.strip()],
            channel=arguments.channel,
            act_on_behalf_of_user=arguments.act_on_behalf_of or None,
            ttl_seconds=arguments.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


async def _migrate(settings: Settings) -> int:
    from server.store.database import create_engine, database_url
    from server.store.migrate import upgrade_to_head

    url = database_url(settings.database_url, settings.data_dir)
    engine = create_engine(url)
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()
    logging.getLogger("cartservice").info("migrated %s", url.render_as_string(hide_password=True))
    return 0


def _health(arguments: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        channel = _health_channel(arguments)
    except OSError as error:
        print(f"cannot check: {error}", file=sys.stderr)
        return 2
    with channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=arguments.timeout
            )
        except grpc.RpcError as error:
            print(f"unhealthy: {error.code().name}", file=sys.stderr)
            return 1
    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
    print(
        "SERVING" if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    )
    return 0 if serving else 1


def _health_channel(arguments: argparse.Namespace) -> Any:
    import grpc

    if not arguments.tls:
        return grpc.insecure_channel(arguments.address)
    credentials = grpc.ssl_channel_credentials(
        _read(arguments.ca_file), _read(arguments.key_file), _read(arguments.cert_file)
    )
    name = arguments.server_name or _certificate_name(os.environ.get("CARTSERVICE_TLS_CERT_FILE"))
    options = [("grpc.ssl_target_name_override", name)] if name else []
    return grpc.secure_channel(arguments.address, credentials, options=options)


def _read(path: str) -> bytes | None:
    return Path(path).read_bytes() if path else None


def _certificate_name(path: str | None) -> str:
    """The first DNS name of a PEM certificate (its common name if it has none)."""
    if not path:
        return ""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        dns = names.value.get_values_for_type(x509.DNSName)
        if dns:
            return str(dns[0])
    except x509.ExtensionNotFound:
        pass
    common = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else ""


if __name__ == "__main__":
    raise SystemExit(main())


async def _seed_demo(settings: Settings) -> int:
    from server.service.catalogs import DEFAULT_COLLECTION
    from server.store.demo_catalog import demo_document

    loaded = await _store_catalog(settings, DEFAULT_COLLECTION, demo_document())
    logging.getLogger("cartservice").info(
        "demo catalog loaded as the default catalog (version %d)", loaded
    )
    return 0


def _load_catalog(settings: Settings, path: str, collection_id: int) -> int:
    from server.domain.errors import InvalidArgument

    try:
        document = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as error:
        print(f"cartservice catalog load: cannot read {path}: {error}", file=sys.stderr)
        return 2
    try:
        version = asyncio.run(_store_catalog(settings, collection_id, document))
    except InvalidArgument as error:
        print(f"cartservice catalog load: {path} is not a valid catalog:", file=sys.stderr)
        for violation in error.violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        return 2
    print(f"catalog of collection {collection_id} loaded from {path}: version {version}")
    return 0


async def _store_catalog(settings: Settings, collection_id: int, document: str) -> int:
    """Migrates, then stores the catalog; answers its version."""
    from server.service.catalogs import CatalogHandlers
    from server.store.database import create_engine, database_url
    from server.store.driver import Database
    from server.store.migrate import upgrade_to_head
    from server.store.unit_of_work import UnitOfWorkFactory

    url = database_url(settings.database_url, settings.data_dir)
    engine = create_engine(url)
    database = Database(url, 1)
    try:
        await upgrade_to_head(engine)
        loaded = await CatalogHandlers(UnitOfWorkFactory(database)).store(collection_id, document)
    finally:
        await database.close()
        await engine.dispose()
    return loaded.version
