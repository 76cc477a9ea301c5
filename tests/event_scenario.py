"""A run of all 33 cart operations through the gRPC API, in an order that gives each event the
parts its seed example shows (e.g. the cart has an address but no other charges yet when it is
patched), plus the shape comparison of produced envelopes with the seed's fixtures.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1 import catalog_service_pb2 as catalog_pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.cart.v1.catalog_service_pb2_grpc import CatalogServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from tests.identities import as_caller
from tests.seed_examples import FIXTURES, from_seed, seed_payload

OPERATIONS = sorted(path.stem for path in FIXTURES.glob("*.json"))


def new_collection() -> int:
    return random.randint(10_000_000, 99_999_999)


SEED_RULE = "d14f48d0-e0c8-11e8-9f32-f2801f1b9fd1_sfopr_0"


def seed_like_catalog(cart: r.Cart) -> str:
    """A catalog like the seed's calculation shows: the cart's skus with a title, a regular
    price above their price, a quantity limit and a minimum age, and an automatic 5 % off."""
    skus = {
        sku.sku_id: {
            "skuId": sku.sku_id, "productId": sku.product_id, "title": f"Title of {sku.sku_id}",
            "regularPrice": str(Decimal(sku.price.value or "0") + 3), "salePrice": sku.price.value or "0",
            "quantityLimit": {"minValue": 1, "maxValue": 5}, "minimumAge": 18,
        }
        for item in cart.items
        for sku in item.skus
    }  # fmt: skip
    rule = {"id": SEED_RULE, "title": "Default 5% off on Cart", "level": "CART",
            "kind": "PERCENTAGE", "value": "5"}  # fmt: skip
    return json.dumps({"currency": "USD", "skus": list(skus.values()), "promotions": [rule]})


def run_all_operations(
    stub: CartServiceStub, catalogs: CatalogServiceStub, collection_id: int, user_id: str = "4523"
) -> int:
    """Drives every operation once on one new cart of `collection_id`; answers the cart id.
    `catalogs` loads the collection's catalog before the calculation, as its cart admin."""
    me = as_caller(user_id, collection_id, ("ROLE_USER",), channel="CSR")
    mask = field_mask_pb2.FieldMask

    def call(rpc: str, request: Any) -> Any:
        return getattr(stub, rpc)(request, metadata=me)

    cart = call(
        "CreateCart",
        pb.CreateCartRequest(cart=from_seed(seed_payload("CreateCart")["carts"][0], r.Cart)),
    ).carts[0]
    cid = cart.id
    call(
        "CreateCartAddress",
        pb.CreateCartAddressRequest(
            cart_id=cid, address=from_seed(seed_payload("CreateCartAddress")["address"], r.Address)
        ),
    )
    call(
        "PatchUpdateCartAddress",
        pb.PatchUpdateCartAddressRequest(
            cart_id=cid, address=r.Address(city="cBKMFSqd"), update_mask=mask(paths=["city"])
        ),
    )
    call(
        "PatchUpdateCart",
        pb.PatchUpdateCartRequest(
            cart_id=cid, cart=r.Cart(type="5507"), update_mask=mask(paths=["type"])
        ),
    )
    item = call(
        "CreateCartItem",
        pb.CreateCartItemRequest(
            cart_id=cid, items=[from_seed(seed_payload("CreateCartItem")["items"][0], r.CartItem)]
        ),
    ).items[0]
    call(
        "PatchUpdateCartItem",
        pb.PatchUpdateCartItemRequest(
            cart_id=cid,
            item_id=item.id,
            item=r.CartItem(quantity=2),
            update_mask=mask(paths=["quantity"]),
        ),
    )
    call(
        "PatchUpdateCartItemProperties",
        pb.PatchUpdateCartItemPropertiesRequest(
            cart_id=cid, item_id=item.id, item_properties={"additionalProp1": "shirts"}
        ),
    )
    call(
        "UpdateCartItemProperties",
        pb.UpdateCartItemPropertiesRequest(
            cart_id=cid,
            item_id=item.id,
            item_properties={"Cloths": "Cotton", "NewArrivals": "Pants"},
        ),
    )
    payment = call(
        "CreatePayment",
        pb.CreatePaymentRequest(
            cart_id=cid,
            payments=[
                r.Payment(
                    payment_id="107573",
                    payment_item_id="43067",
                    transaction_id="t-1",
                    amount=D(value="37.94"),
                    currency="USD",
                    payment_type="card",
                )
            ],
        ),
    ).payment[0]
    call(
        "PatchUpdateCartPayment",
        pb.PatchUpdateCartPaymentRequest(
            cart_id=cid,
            cart_payment_id=payment.id,
            payment=r.Payment(amount=D(value="40.00")),
            update_mask=mask(paths=["amount"]),
        ),
    )
    call(
        "CreateCartProperties",
        pb.CreateCartPropertiesRequest(
            cart_id=cid, cart_properties={"CATEGORY": "Lenova", "BRAND ": "Laptops"}
        ),
    )
    call(
        "PatchUpdateCartProperties",
        pb.PatchUpdateCartPropertiesRequest(
            cart_id=cid, cart_properties={"additionalProp1": "SonataWatch"}
        ),
    )
    call(
        "UpdateCartProperties",
        pb.UpdateCartPropertiesRequest(cart_id=cid, cart_properties={"CATEGORY": "Lenova"}),
    )
    call("DeleteCartProperties", pb.DeleteCartPropertiesRequest(cart_id=cid))
    call("DeleteCartShipping", pb.DeleteCartShippingRequest(cart_id=cid))
    call(
        "CreateCartShipping",
        pb.CreateCartShippingRequest(
            cart_id=cid,
            shipping=from_seed(seed_payload("CreateCartShipping")["shipping"], r.Shipping),
        ),
    )
    call(
        "PatchUpdateCartShipping",
        pb.PatchUpdateCartShippingRequest(
            cart_id=cid,
            shipping=r.Shipping(delivery_instructions="Deliver on week days"),
            update_mask=mask(paths=["delivery_instructions"]),
        ),
    )
    call(
        "CreatePromotion",
        pb.CreatePromotionRequest(
            cart_id=cid, promotions=[r.Promotion(promo_code="Jordan", name="Test Promotion")]
        ),
    )
    charge = call(
        "CreateOtherCharges",
        pb.CreateOtherChargesRequest(
            cart_id=cid,
            other_charges=[
                from_seed(seed_payload("CreateOtherCharges")["otherCharges"][0], r.OtherCharge)
            ],
        ),
    ).other_charges[0]
    call(
        "PatchUpdateOtherCharges",
        pb.PatchUpdateOtherChargesRequest(
            cart_id=cid,
            other_charge_id=charge.id,
            other_charge=r.OtherCharge(charge_value=D(value="110.0")),
            update_mask=mask(paths=["charge_value"]),
        ),
    )
    call(
        "UpdateCommunicationPreference",
        pb.UpdateCommunicationPreferenceRequest(
            cart_id=cid,
            communication_preference=from_seed(
                seed_payload("UpdateCommunicationPreference")["communicationPreference"],
                r.CommunicationPreference,
            ),
        ),
    )
    reward = call(
        "CreateLoyaltyRewards",
        pb.CreateLoyaltyRewardsRequest(
            cart_id=cid,
            loyalty_details=[
                from_seed(
                    seed_payload("CreateLoyaltyRewards")["loyaltyDetails"][0], r.LoyaltyDetail
                )
            ],
        ),
    ).loyalty_details[0]
    call(
        "PatchUpdateLoyaltyRewards",
        pb.PatchUpdateLoyaltyRewardsRequest(
            cart_id=cid,
            loyalty_detail_id=reward.id,
            loyalty_detail=r.LoyaltyDetail(value=D(value="208.58"), points=D(value="208.58")),
        ),
    )
    current = call("GetCart", pb.GetCartRequest(cart_id=cid)).cart
    catalogs.LoadCatalog(
        catalog_pb.LoadCatalogRequest(
            collection_id=collection_id, catalog_json=seed_like_catalog(current)
        ),
        metadata=as_caller("1", collection_id, ("ROLE_CART_ADMIN",)),
    )
    call("CreateCartCalculation", pb.CreateCartCalculationRequest(cart_id=cid))
    call(
        "DeleteLoyaltyRewards",
        pb.DeleteLoyaltyRewardsRequest(cart_id=cid, loyalty_detail_id=reward.id),
    )
    call("DeleteOtherCharges", pb.DeleteOtherChargesRequest(cart_id=cid, other_charge_id=charge.id))
    call("DeletePromotion", pb.DeletePromotionRequest(cart_id=cid, promo_code="Jordan"))
    call("DeleteCommunicationPreference", pb.DeleteCommunicationPreferenceRequest(cart_id=cid))
    call(
        "DeleteCartItemProperties", pb.DeleteCartItemPropertiesRequest(cart_id=cid, item_id=item.id)
    )
    call("DeleteCartItem", pb.DeleteCartItemRequest(cart_id=cid, item_id=item.id))
    call("DeleteCartPayment", pb.DeleteCartPaymentRequest(cart_id=cid, cart_payment_id=payment.id))
    call("DeleteCartAddress", pb.DeleteCartAddressRequest(cart_id=cid))
    call("DeleteCart", pb.DeleteCartRequest(cart_id=cid))
    return int(cid)


def fixture(operation: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{operation}.json").read_text())
    return loaded


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return "object" if isinstance(value, dict) else "array"


def _map_fields() -> frozenset[str]:
    from cartservice.cart.v1 import calculation_pb2, cart_pb2, cart_service_pb2

    names = set()
    for module in (cart_pb2, calculation_pb2, cart_service_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            names |= {
                f.json_name
                for f in message.fields
                if f.message_type is not None and f.message_type.GetOptions().map_entry
            }
    return frozenset(names)


# JSON keys whose objects are maps (customProperties, calculatedOtherCharges, …): their keys are
# data, so only the JSON types of their values are compared.
MAP_FIELDS = _map_fields()


def shape_differences(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Where `ours` differs from the seed's `theirs` in keys, nesting or JSON types (not values).

    Arrays compare element-wise by type: each of our elements against the seed's element at the
    same index, or its last one; an array the seed shows empty accepts any elements.
    """
    if json_type(ours) != json_type(theirs):
        return [f"{path}: {json_type(ours)} where the seed has {json_type(theirs)}"]
    if isinstance(ours, dict) and path.rsplit(".", 1)[-1] in MAP_FIELDS:
        value_types = {json_type(v) for v in theirs.values()}
        return [
            f"{path}[{k!r}]: {json_type(v)} value"
            for k, v in ours.items()
            if value_types and json_type(v) not in value_types
        ]
    if isinstance(ours, dict):
        found = [f"{path}.{k}: missing" for k in theirs.keys() - ours.keys()]
        found += [f"{path}.{k}: not in the seed" for k in ours.keys() - theirs.keys()]
        for key in ours.keys() & theirs.keys():
            found += shape_differences(ours[key], theirs[key], f"{path}.{key}")
        return found
    if isinstance(ours, list) and theirs:
        if not ours:
            return [f"{path}: empty where the seed has entries"]
        found = []
        for index, element in enumerate(ours):
            found += shape_differences(
                element, theirs[min(index, len(theirs) - 1)], f"{path}[{index}]"
            )
        return found
    return []
