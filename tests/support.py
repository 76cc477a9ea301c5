"""What several test modules share: carts built from the seed, the error-test scenario of every
RPC, rich-error readers, and a concurrent shopper. Tests import from here, never from each other."""

from __future__ import annotations

import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from server.store.database import create_engine, database_url
from server.store.driver import Database
from server.store.migrate import upgrade_to_head
from tests.event_scenario import new_collection
from tests.identities import as_caller, on_behalf_of
from tests.seed_examples import from_seed, seed_payload


def seed_cart(user_id: str = "1") -> r.Cart:
    cart = from_seed(seed_payload("CreateCart")["carts"][0], r.Cart)
    cart.user_id = user_id
    return cart


def create_cart(stub: CartServiceStub, user_id: str = "1") -> r.Cart:
    """A cart built from the seed, owned by `user_id` (created by a super admin on its behalf)."""
    request = pb.CreateCartRequest(cart=seed_cart(user_id))
    return stub.CreateCart(request, metadata=on_behalf_of(user_id)).carts[0]


def get(stub: CartServiceStub, cart_id: int) -> r.Cart:
    return stub.GetCart(pb.GetCartRequest(cart_id=cart_id)).cart


CARTS = 40
ITEM = r.CartItem(quantity=1, skus=[r.Sku(sku_id="sku-g", price=D(value="2.50"))])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Shopper:
    """Adds items to its carts from several threads; remembers what was acknowledged."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.insecure_channel(address)
        self.stub = CartServiceStub(self.channel)
        self.me = as_caller("777", new_collection())
        self.carts = [
            self.stub.CreateCart(pb.CreateCartRequest(), metadata=self.me).carts[0].id
            for _ in range(CARTS)
        ]
        self.acknowledged: set[int] = set()
        self.failures = 0

    def add_item(self, n: int) -> None:
        try:
            answer = self.stub.CreateCartItem(
                pb.CreateCartItemRequest(cart_id=self.carts[n % CARTS], items=[ITEM]),
                metadata=self.me,
                timeout=10,
            )
            self.acknowledged.add(answer.items[0].id)
        except grpc.RpcError as error:
            assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error
            self.failures += 1

    def run(self, calls: range, threads: int = 8) -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.add_item, calls))

    def stored_items(self) -> set[int]:
        return {
            item.id
            for cart in self.carts
            for item in self.stub.GetCart(
                pb.GetCartRequest(cart_id=cart), metadata=self.me
            ).cart.items
        }


UNKNOWN = 9_000_000_000_000
SKU = r.Sku(sku_id="sku_001", price=D(value="1.00"))
OTHER_CHARGE = r.OtherCharge(
    name="fee", type=r.CHARGE_LEVEL_CART, charge_type=r.CHARGE_TYPE_FLAT, charge_value=D(value="1")
)


class Ids:
    """Ids of an existing cart and of its parts; `unknown` replaces one of them."""

    def __init__(self, cart: r.Cart, unknown: str = "") -> None:
        self.cart = UNKNOWN if unknown == "cart" else cart.id
        self.item = UNKNOWN if unknown == "item" else cart.items[0].id
        self.payment = UNKNOWN if unknown == "payment" else cart.payments[0].id
        self.charge = UNKNOWN if unknown == "charge" else cart.other_charges[0].id
        self.loyalty = UNKNOWN if unknown == "loyalty" else cart.loyalty_details[0].id
        self.promo = "NOPE" if unknown == "promo" else cart.promotions[0].promo_code


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# Valid requests for every RPC that works on an existing cart.
REQUESTS: dict[str, Callable[[Ids], Message]] = {
    "GetCart": lambda i: pb.GetCartRequest(cart_id=i.cart),
    "PatchUpdateCart": lambda i: pb.PatchUpdateCartRequest(cart_id=i.cart, cart=r.Cart(type="x")),
    "DeleteCart": lambda i: pb.DeleteCartRequest(cart_id=i.cart),
    "CreateCartAddress": lambda i: pb.CreateCartAddressRequest(cart_id=i.cart, address=r.Address(city="c")),
    "PatchUpdateCartAddress": lambda i: pb.PatchUpdateCartAddressRequest(cart_id=i.cart, address=r.Address(city="c")),
    "DeleteCartAddress": lambda i: pb.DeleteCartAddressRequest(cart_id=i.cart),
    "CreateCartItem": lambda i: pb.CreateCartItemRequest(cart_id=i.cart, items=[r.CartItem(quantity=1, skus=[SKU])]),
    "PatchUpdateCartItem": lambda i: pb.PatchUpdateCartItemRequest(cart_id=i.cart, item_id=i.item, item=r.CartItem(quantity=2)),
    "DeleteCartItem": lambda i: pb.DeleteCartItemRequest(cart_id=i.cart, item_id=i.item),
    "UpdateCartItemProperties": lambda i: pb.UpdateCartItemPropertiesRequest(cart_id=i.cart, item_id=i.item, item_properties={"a": "b"}),
    "PatchUpdateCartItemProperties": lambda i: pb.PatchUpdateCartItemPropertiesRequest(cart_id=i.cart, item_id=i.item, item_properties={"a": "b"}),
    "DeleteCartItemProperties": lambda i: pb.DeleteCartItemPropertiesRequest(cart_id=i.cart, item_id=i.item),
    "CreateCartProperties": lambda i: pb.CreateCartPropertiesRequest(cart_id=i.cart, cart_properties={"new": "v"}),
    "UpdateCartProperties": lambda i: pb.UpdateCartPropertiesRequest(cart_id=i.cart, cart_properties={"a": "b"}),
    "PatchUpdateCartProperties": lambda i: pb.PatchUpdateCartPropertiesRequest(cart_id=i.cart, cart_properties={"a": "b"}),
    "DeleteCartProperties": lambda i: pb.DeleteCartPropertiesRequest(cart_id=i.cart),
    "CreateCartShipping": lambda i: pb.CreateCartShippingRequest(cart_id=i.cart, shipping=r.Shipping(type="t")),
    "PatchUpdateCartShipping": lambda i: pb.PatchUpdateCartShippingRequest(cart_id=i.cart, shipping=r.Shipping(type="t")),
    "DeleteCartShipping": lambda i: pb.DeleteCartShippingRequest(cart_id=i.cart),
    "CreateOtherCharges": lambda i: pb.CreateOtherChargesRequest(cart_id=i.cart, other_charges=[OTHER_CHARGE]),
    "PatchUpdateOtherCharges": lambda i: pb.PatchUpdateOtherChargesRequest(cart_id=i.cart, other_charge_id=i.charge, other_charge=r.OtherCharge(name="n")),
    "DeleteOtherCharges": lambda i: pb.DeleteOtherChargesRequest(cart_id=i.cart, other_charge_id=i.charge),
    "CreatePayment": lambda i: pb.CreatePaymentRequest(cart_id=i.cart, payments=[r.Payment(amount=D(value="1"), currency="USD")]),
    "PatchUpdateCartPayment": lambda i: pb.PatchUpdateCartPaymentRequest(cart_id=i.cart, cart_payment_id=i.payment, payment=r.Payment(payment_type="card")),
    "DeleteCartPayment": lambda i: pb.DeleteCartPaymentRequest(cart_id=i.cart, cart_payment_id=i.payment),
    "CreatePromotion": lambda i: pb.CreatePromotionRequest(cart_id=i.cart, promotions=[r.Promotion(promo_code="P2")]),
    "DeletePromotion": lambda i: pb.DeletePromotionRequest(cart_id=i.cart, promo_code=i.promo),
    "UpdateCommunicationPreference": lambda i: pb.UpdateCommunicationPreferenceRequest(cart_id=i.cart, communication_preference=r.CommunicationPreference(first_name="f")),
    "DeleteCommunicationPreference": lambda i: pb.DeleteCommunicationPreferenceRequest(cart_id=i.cart),
    "CreateCartCalculation": lambda i: pb.CreateCartCalculationRequest(cart_id=i.cart),
    "CreateLoyaltyRewards": lambda i: pb.CreateLoyaltyRewardsRequest(cart_id=i.cart, loyalty_details=[r.LoyaltyDetail(value=D(value="1"))]),
    "PatchUpdateLoyaltyRewards": lambda i: pb.PatchUpdateLoyaltyRewardsRequest(cart_id=i.cart, loyalty_detail_id=i.loyalty, loyalty_detail=r.LoyaltyDetail(type="t")),
    "DeleteLoyaltyRewards": lambda i: pb.DeleteLoyaltyRewardsRequest(cart_id=i.cart, loyalty_detail_id=i.loyalty),
}  # fmt: skip


def full_cart(stub: CartServiceStub, user_id: str = "1") -> r.Cart:
    """A cart of `user_id` with one of every part, so each RPC has something to act on."""
    cart = create_cart(stub, user_id)
    stub.CreateOtherCharges(
        pb.CreateOtherChargesRequest(cart_id=cart.id, other_charges=[OTHER_CHARGE])
    )
    stub.CreateLoyaltyRewards(
        pb.CreateLoyaltyRewardsRequest(
            cart_id=cart.id, loyalty_details=[r.LoyaltyDetail(value=D(value="1"))]
        )
    )
    stub.CreateCartAddress(
        pb.CreateCartAddressRequest(cart_id=cart.id, address=r.Address(city="c"))
    )
    return get(stub, cart.id)


def call(stub: CartServiceStub, rpc: str, request: Message) -> Any:
    return getattr(stub, rpc)(request)


def failure(stub: CartServiceStub, rpc: str, request: Message) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(stub, rpc, request)
    return raised.value


def details(error: grpc.RpcError) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    unpacked = []
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest, error_details_pb2.ResourceInfo,
            error_details_pb2.ErrorInfo, error_details_pb2.PreconditionFailure,
        ):  # fmt: skip
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                unpacked.append(message)
    return unpacked


def violations(error: grpc.RpcError) -> dict[str, str]:
    bad = [d for d in details(error) if isinstance(d, error_details_pb2.BadRequest)]
    assert bad, f"no BadRequest in {details(error)}"
    return {v.field: v.description for v in bad[0].field_violations}


def readme_blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language, as they are written."""
    readme = Path(__file__).parents[1] / "README.md"
    fence = f"```{language}\n"
    return [part.split("```", 1)[0] for part in readme.read_text().split(fence)[1:]]


async def migrated_database(url: str, pool_size: int) -> Database:
    """The request path's pool on a test's own database, migrated to head."""
    location = database_url(url, Path("."))
    engine = create_engine(location)
    await upgrade_to_head(engine)
    await engine.dispose()
    return Database(location, pool_size)
