"""Authentication (verified JWTs) and authorization (tenancy, ownership, roles) on every call."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.auth.tokens import TokenVerifier, Unauthenticated
from tests.identities import AUDIENCE, ISSUER, SECRET, as_caller, token
from tests.support import create_cart

USER, ADMIN, SUPER = ("ROLE_USER",), ("ROLE_USER", "ROLE_CART_ADMIN"), ("ROLE_SUPER_ADMIN",)


def bearer(raw: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {raw}"),)


def refused(call: object, request: object, metadata: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, metadata=metadata)  # type: ignore[operator]
    return raised.value


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing authorization"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "Bearer"),
        (bearer(token(ttl_seconds=-120)), "expired"),
        (bearer(token(secret="another-secret-of-32-characters-x")), "signature"),
        (bearer(token(audience="someone-else")), "audience"),
        (bearer("not.a.jwt"), "malformed"),
        (
            bearer(
                jwt.encode(
                    {
                        "sub": "1",
                        "exp": time.time() + 3600,
                        "iss": ISSUER,
                        "aud": AUDIENCE,
                        "collection_id": 1,
                    },
                    SECRET,
                )
            ),
            "roles",
        ),
        (
            bearer(
                jwt.encode(
                    {
                        "sub": "1",
                        "exp": time.time() + 3600,
                        "iss": ISSUER,
                        "aud": AUDIENCE,
                        "roles": ["ROLE_USER"],
                    },
                    SECRET,
                )
            ),
            "collection_id",
        ),
    ],
)
def test_bad_credentials_are_unauthenticated_with_a_reason(
    channel: grpc.Channel, metadata: tuple[tuple[str, str], ...], message: str
) -> None:
    error = refused(CartServiceStub(channel).GetCart, pb.GetCartRequest(cart_id=1), metadata)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    details = error.details() or ""
    assert message in details
    for _, value in metadata:
        assert value.partition(" ")[2] not in details  # the credential is never echoed


def test_user_reaches_own_cart_only(stub: CartServiceStub) -> None:
    mine = stub.CreateCart(pb.CreateCartRequest(cart=r.Cart()), metadata=as_caller("alice")).carts[
        0
    ]
    assert (mine.user_id, mine.collection_id, mine.created_by) == ("alice", 4982, "alice")
    theirs = create_cart(stub, "bob")
    assert (
        stub.GetCart(pb.GetCartRequest(cart_id=mine.id), metadata=as_caller("alice")).cart.id
        == mine.id
    )
    error = refused(stub.GetCart, pb.GetCartRequest(cart_id=theirs.id), as_caller("alice"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(stub.DeleteCart, pb.DeleteCartRequest(cart_id=theirs.id), as_caller("alice"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert stub.GetCart(pb.GetCartRequest(cart_id=theirs.id)).cart.id == theirs.id


def test_request_body_cannot_choose_the_owner(stub: CartServiceStub) -> None:
    sent = r.Cart(user_id="mallory-victim", collection_id=1)
    created = stub.CreateCart(pb.CreateCartRequest(cart=sent), metadata=as_caller("mallory")).carts[
        0
    ]
    assert (created.user_id, created.collection_id) == ("mallory", 4982)


@pytest.mark.parametrize(
    ("roles", "code"),
    [(USER, grpc.StatusCode.NOT_FOUND), (ADMIN, grpc.StatusCode.NOT_FOUND), (SUPER, None)],
)
def test_other_collections_are_invisible_except_to_super_admins(
    stub: CartServiceStub, roles: tuple[str, ...], code: grpc.StatusCode | None
) -> None:
    cart = create_cart(stub, "carol")  # collection 4982
    caller = as_caller("carol", 5001, roles)
    if code is None:
        assert stub.GetCart(pb.GetCartRequest(cart_id=cart.id), metadata=caller).cart.id == cart.id
    else:
        assert refused(stub.GetCart, pb.GetCartRequest(cart_id=cart.id), caller).code() == code


def test_cart_admin_acts_on_any_cart_of_its_collection_on_behalf_of_the_owner(
    stub: CartServiceStub,
) -> None:
    cart = create_cart(stub, "dave")
    admin = as_caller("csr-7", 4982, ADMIN, channel="CSR", act_on_behalf_of_user="dave")
    patched = stub.PatchUpdateCartProperties(
        pb.PatchUpdateCartPropertiesRequest(cart_id=cart.id, cart_properties={"gift": "yes"}),
        metadata=admin,
    )
    assert patched.cart_properties_list["gift"] == "yes"
    stored = stub.GetCart(pb.GetCartRequest(cart_id=cart.id)).cart
    assert (stored.user_id, stored.updated_by) == ("dave", "csr-7")
    created = stub.CreateCart(pb.CreateCartRequest(cart=r.Cart()), metadata=admin).carts[0]
    assert (created.user_id, created.created_by) == ("dave", "csr-7")


def test_a_plain_user_cannot_act_on_behalf_of_another(stub: CartServiceStub) -> None:
    error = refused(
        stub.CreateCart,
        pb.CreateCartRequest(cart=r.Cart()),
        as_caller("eve", act_on_behalf_of_user="frank"),
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_listing_is_scoped_to_the_caller(stub: CartServiceStub) -> None:
    own = stub.CreateCart(pb.CreateCartRequest(cart=r.Cart()), metadata=as_caller("gina")).carts[0]
    listed = stub.ListCarts(pb.ListCartsRequest(), metadata=as_caller("gina"))
    assert [c.id for c in listed.carts] == [own.id]
    error = refused(stub.ListCarts, pb.ListCartsRequest(user_id="1"), as_caller("gina"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    error = refused(
        stub.ListCarts, pb.ListCartsRequest(collection_id=5001), as_caller("gina", roles=ADMIN)
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    admin_view = stub.ListCarts(
        pb.ListCartsRequest(user_id="gina"), metadata=as_caller("hal", roles=ADMIN)
    )
    assert [c.id for c in admin_view.carts] == [own.id]


def test_health_and_reflection_need_no_token(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    assert (
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest()).status
        == health_pb2.HealthCheckResponse.SERVING
    )


def test_es256_tokens_verify_with_a_pem_public_key_and_a_jwks(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    key = ec.generate_private_key(ec.SECP256R1())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / "key.pem").write_bytes(public_pem)
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    (directory / "keys.json").write_text(
        jwt.api_jws.json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "ES256"}]})
    )
    claims = {"sub": "9", "roles": ["ROLE_USER"], "collection_id": 7, "exp": time.time() + 60}
    signed = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    for verifier in (
        TokenVerifier.from_files("ES256", public_key_file=str(directory / "key.pem")),
        TokenVerifier.from_files("ES256", jwks_file=str(directory / "keys.json")),
    ):
        assert verifier.verify(signed).user_id == "9"
        with pytest.raises(Unauthenticated, match=r"algorithm|signature"):
            verifier.verify(
                jwt.encode(claims, "an-hs256-secret-of-thirty-two-chars", algorithm="HS256")
            )


def test_a_forgotten_caller_leaves_nothing_in_the_context() -> None:
    import contextvars

    from server.auth.identity import Identity, Role, bind_caller, caller, forget_caller

    def call() -> None:
        before = len(contextvars.copy_context())
        identity = Identity(user_id="u-1", collection_id=7, roles=frozenset({Role.USER}))
        bind_caller(identity)
        assert caller() is identity
        assert len(contextvars.copy_context()) == before + 1
        forget_caller()
        with pytest.raises(LookupError):
            caller()
        assert len(contextvars.copy_context()) == before
        forget_caller()  # nothing left to drop: harmless

    contextvars.Context().run(call)
    bound = contextvars.Context()
    bound.run(bind_caller, Identity(user_id="u-2", collection_id=7, roles=frozenset()))
    binding = bound.run(caller)
    copied = bound.copy()
    copied.run(forget_caller)  # bound in another context: reset refuses, and it stays
    assert copied.run(caller) is binding and bound.run(caller) is binding
