"""What each operation emits: the seed's EventBridge event type and identifier, and its internal
RabbitMQ messages (seed 003, both tables). Data, not code paths: one row per operation.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "cartservices"
EXCHANGE = "ecomm"

# Operations whose seed example carries detail.id (the fixtures are the contract, DEVELOPERS.md
# rule 6; the other twelve examples have no detail.id although the table names an identifier).
WITH_DETAIL_ID = frozenset(
    {
        "CreateCartAddress",
        "CreateCartProperties",
        "CreateCartShipping",
        "DeleteCartAddress",
        "DeleteCartItem",
        "DeleteCartItemProperties",
        "DeleteCartPayment",
        "DeleteCartProperties",
        "DeleteCartShipping",
        "DeleteCommunicationPreference",
        "DeleteOtherCharges",
        "DeletePromotion",
        "PatchUpdateCart",
        "PatchUpdateCartAddress",
        "PatchUpdateCartItemProperties",
        "PatchUpdateCartProperties",
        "PatchUpdateCartShipping",
        "PatchUpdateOtherCharges",
        "UpdateCartItemProperties",
        "UpdateCartProperties",
        "UpdateCommunicationPreference",
    }
)


@dataclass(frozen=True)
class Operation:
    name: str
    event_type: str
    # Routing key of its internal messages; None: no internal message (nothing changed).
    routing_key: str | None


def _op(name: str, event_type: str, routing_key: str | None = "cart.updated") -> Operation:
    return Operation(name, f"{SOURCE}/{event_type}", routing_key)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        _op("DeleteCart", "cart/delete", "cart.deleted"),
        _op("PatchUpdateCart", "cart/patchupdate"),
        _op("CreateCart", "cart/create", "cart.created"),
        _op("CreateCartAddress", "cartaddress/create"),
        _op("CreateCartItem", "cartitem/create", "cartitem.created"),
        _op("CreateCartProperties", "cartproperty/create"),
        _op("CreateCartShipping", "cartshipping/create"),
        _op("CreateOtherCharges", "othercharges/create"),
        _op("CreatePayment", "payment/create", "cartpayment.created"),
        _op("CreatePromotion", "promotion/create", "cartpromotion.created"),
        _op("DeleteCartAddress", "cartaddress/delete"),
        _op("DeleteCartItemProperties", "cartitemproperty/delete", "cartitem.updated"),
        _op("DeleteCartItem", "cartitem/delete", "cartitem.deleted"),
        _op("DeleteCartPayment", "cartpayment/delete", "cartpayment.deleted"),
        _op("DeleteCartProperties", "cartproperty/delete"),
        _op("DeleteCartShipping", "cartshipping/delete"),
        _op("DeleteCommunicationPreference", "communicationpreference/delete"),
        _op("DeleteOtherCharges", "othercharges/delete"),
        _op("DeletePromotion", "promotion/delete", "cartpromotion.deleted"),
        _op("PatchUpdateCartAddress", "cartaddress/patch"),
        _op("PatchUpdateCartItemProperties", "cartitemproperty/patch", "cartitem.updated"),
        _op("PatchUpdateCartItem", "cartitem/patch", "cartitem.updated"),
        _op("PatchUpdateCartPayment", "cartpayment/patch", "cartpayment.updated"),
        _op("PatchUpdateCartProperties", "cartproperty/patch"),
        _op("PatchUpdateCartShipping", "cartshipping/patch"),
        _op("PatchUpdateOtherCharges", "othercharges/patch"),
        _op("UpdateCartItemProperties", "cartitemproperty/update", "cartitem.updated"),
        _op("UpdateCartProperties", "cartproperty/update"),
        _op("UpdateCommunicationPreference", "communicationpreference/update"),
        _op("CreateCartCalculation", "cartcalculation/create", None),
        _op("CreateLoyaltyRewards", "loyaltyrewards/create"),
        _op("PatchUpdateLoyaltyRewards", "loyaltyrewards/patch"),
        _op("DeleteLoyaltyRewards", "loyaltyrewards/delete"),
    )
}
