"""Each cart event as the answer of the operation that made it: the seed's event payload is that
answer (seed 003), so one rendering serves both the caller and the outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from google.protobuf.message import Message

from server.contract.checkout import cart_checkout
from server.contract.messages import to_proto
from server.contract.receipts import receipt
from server.domain import events as e
from server.domain.events import DomainEvent
from server.domain.model import Cart

Render = Callable[[Any, Cart, int], Message]


def response_of(event: DomainEvent, cart: Cart, now_ms: int) -> Message:
    """The answer for `event`, recorded on `cart` at `now_ms` (after the flush: ids are set)."""
    return RESPONSES[type(event)](event, cart, now_ms)


def _receipt(response_type: type[Message]) -> Render:
    return lambda event, cart, now_ms: receipt(response_type, now_ms)


def _many(response_type: type[Message], field: str, parts: str, part_type: type[Message]) -> Render:
    def render(event: Any, cart: Cart, now_ms: int) -> Message:
        return response_type(**{field: [to_proto(p, part_type) for p in getattr(event, parts)]})

    return render


def _one(response_type: type[Message], field: str, part: str, part_type: type[Message]) -> Render:
    def render(event: Any, cart: Cart, now_ms: int) -> Message:
        return response_type(**{field: to_proto(getattr(event, part), part_type)})

    return render


def _listed(
    response_type: type[Message], field: str, part: str, part_type: type[Message]
) -> Render:
    def render(event: Any, cart: Cart, now_ms: int) -> Message:
        return response_type(**{field: [to_proto(getattr(event, part), part_type)]})

    return render


def _properties(response_type: type[Message], field: str) -> Render:
    return lambda event, cart, now_ms: response_type(**{field: event.properties})


RESPONSES: dict[type[DomainEvent], Render] = {
    e.CartCreated: lambda event, cart, now_ms: pb.CreateCartResponse(
        carts=[to_proto(cart, r.Cart)]
    ),
    e.CartPatched: lambda event, cart, now_ms: pb.PatchUpdateCartResponse(
        cart=to_proto(cart, r.Cart)
    ),
    e.CartDeleted: _receipt(pb.DeleteCartResponse),
    e.CartCalculated: lambda event, cart, now_ms: pb.CreateCartCalculationResponse(
        cart_checkout=cart_checkout(cart, event.calculation, event.max_quantity)
    ),
    e.AddressCreated: _one(pb.CreateCartAddressResponse, "address", "address", r.Address),
    e.AddressPatched: _one(pb.PatchUpdateCartAddressResponse, "address", "address", r.Address),
    e.AddressDeleted: _receipt(pb.DeleteCartAddressResponse),
    e.ShippingCreated: _one(pb.CreateCartShippingResponse, "shipping", "shipping", r.Shipping),
    e.ShippingPatched: _one(pb.PatchUpdateCartShippingResponse, "shipping", "shipping", r.Shipping),
    e.ShippingDeleted: _receipt(pb.DeleteCartShippingResponse),
    e.ItemsAdded: _many(pb.CreateCartItemResponse, "items", "items", r.CartItem),
    e.ItemPatched: _listed(pb.PatchUpdateCartItemResponse, "items", "item", r.CartItem),
    e.ItemDeleted: _receipt(pb.DeleteCartItemResponse),
    e.ItemPropertiesReplaced: _properties(
        pb.UpdateCartItemPropertiesResponse, "item_properties_list"
    ),
    e.ItemPropertiesMerged: _properties(
        pb.PatchUpdateCartItemPropertiesResponse, "item_properties_list"
    ),
    e.ItemPropertiesDeleted: _receipt(pb.DeleteCartItemPropertiesResponse),
    e.CartPropertiesCreated: _properties(pb.CreateCartPropertiesResponse, "cart_properties_list"),
    e.CartPropertiesReplaced: _properties(pb.UpdateCartPropertiesResponse, "cart_properties_list"),
    e.CartPropertiesMerged: _properties(
        pb.PatchUpdateCartPropertiesResponse, "cart_properties_list"
    ),
    e.CartPropertiesDeleted: _receipt(pb.DeleteCartPropertiesResponse),
    e.OtherChargesAdded: _many(
        pb.CreateOtherChargesResponse, "other_charges", "charges", r.OtherCharge
    ),
    e.OtherChargePatched: _listed(
        pb.PatchUpdateOtherChargesResponse, "other_charges", "charge", r.OtherCharge
    ),
    e.OtherChargeDeleted: _receipt(pb.DeleteOtherChargesResponse),
    e.PaymentsAdded: _many(pb.CreatePaymentResponse, "payment", "payments", r.Payment),
    e.PaymentPatched: _listed(pb.PatchUpdateCartPaymentResponse, "payment", "payment", r.Payment),
    e.PaymentDeleted: _receipt(pb.DeleteCartPaymentResponse),
    e.PromotionsAdded: _many(pb.CreatePromotionResponse, "promotion", "promotions", r.Promotion),
    e.PromotionDeleted: _receipt(pb.DeletePromotionResponse),
    e.CommunicationPreferenceReplaced: _one(
        pb.UpdateCommunicationPreferenceResponse,
        "communication_preference",
        "preference",
        r.CommunicationPreference,
    ),
    e.CommunicationPreferenceDeleted: _receipt(pb.DeleteCommunicationPreferenceResponse),
    e.LoyaltyDetailsAdded: _many(
        pb.CreateLoyaltyRewardsResponse, "loyalty_details", "details", r.LoyaltyDetail
    ),
    e.LoyaltyDetailPatched: _listed(
        pb.PatchUpdateLoyaltyRewardsResponse, "loyalty_details", "detail", r.LoyaltyDetail
    ),
    e.LoyaltyDetailDeleted: _receipt(pb.DeleteLoyaltyRewardsResponse),
}
