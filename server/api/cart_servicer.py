"""cartservice.cart.v1.CartService: validate each request, run its command, answer.

The command's handler (server.service.carts) owns the unit of work and the events; this module
turns protobuf requests into domain values, collecting every field violation first.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

import grpc
from cartservice.cart.v1 import cart_pb2 as resources
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1 import cart_service_pb2_grpc
from google.protobuf.message import Message

from server.api import convert
from server.api.page_tokens import page_token, refuse, token_parts
from server.api.validation import Rule, Violations, rule_for
from server.auth import access
from server.auth.identity import caller
from server.domain.model import Cart
from server.service import commands as c
from server.service.carts import CartHandlers

R = TypeVar("R", bound=Message)
Context: TypeAlias = grpc.aio.ServicerContext

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

CART_PATCHABLE = ("accounts_id", "status", "type")
ITEM_PATCHABLE = (
    "quantity", "quantity_v2", "fulfillment_date", "shipping", "address", "custom_properties",
    "skus",
)  # fmt: skip
ADDRESS_PATCHABLE = tuple(
    f for f in resources.Address.DESCRIPTOR.fields_by_name if f not in ("id", "address_version")
)
SHIPPING_PATCHABLE = ("type", "selected_method", "delivery_on_or_before", "delivery_instructions")
PAYMENT_PATCHABLE = (
    "payment_id", "payment_item_id", "transaction_id", "amount", "currency", "payment_type",
)  # fmt: skip
OTHER_CHARGE_PATCHABLE = (
    "name", "description", "item_id", "charge_value", "charge_against", "taxable", "type",
    "charge_type", "charge_source", "charge_value_overridable", "waive_overridable",
    "waived_by_default",
)  # fmt: skip
LOYALTY_PATCHABLE = ("value", "points", "type", "value_type")


def require_ids(**ids: int) -> None:
    violations = Violations()
    for name, value in ids.items():
        violations.check_positive_id(name, value)
    violations.raise_if_any()


class Reader:
    """Reads the parts of one request, collecting every violation before any work is done."""

    def __init__(self, request: Any, **ids: int) -> None:
        self.request = request
        self.violations = Violations()
        for name, value in ids.items():
            self.violations.check_positive_id(name, value)

    def field(self, name: str) -> Any:
        return convert.read_field(self.request, name, name, self.violations)

    def message(self, name: str) -> Any:
        return convert.from_proto(getattr(self.request, name), name, self.violations)

    def patch(self, name: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        return convert.changes_from_mask(
            getattr(self.request, name), self.request.update_mask, allowed, name, self.violations
        )

    def done(self) -> None:
        self.violations.raise_if_any()


class CartServicer(cart_service_pb2_grpc.CartServiceServicer):
    """Validates each request into a command of server.service and answers what it did."""

    def __init__(self, carts: CartHandlers) -> None:
        self._carts = carts

    async def _run(self, command: c.Command, response_type: type[R]) -> R:
        answer = (await self._carts.handle(command, caller())).answer
        assert isinstance(answer, response_type)
        return answer

    # ---- cart ----

    async def CreateCart(
        self, request: pb.CreateCartRequest, context: Context
    ) -> pb.CreateCartResponse:
        read = Reader(request)
        cart: Cart = read.message("cart")
        read.done()
        return await self._run(c.CreateCart(cart), pb.CreateCartResponse)

    async def GetCart(self, request: pb.GetCartRequest, context: Context) -> pb.GetCartResponse:
        require_ids(cart_id=request.cart_id)
        answer = pb.GetCartResponse()
        await self._carts.get(request.cart_id, caller(), into=answer.cart)
        return answer

    async def ListCarts(
        self, request: pb.ListCartsRequest, context: Context
    ) -> pb.ListCartsResponse:
        violations = Violations()
        if request.collection_id < 0:
            violations.add("collection_id", "must be a positive id, or 0 for the caller's")
        violations.check_string("user_id", request.user_id, Rule(max_length=64))
        if not 0 <= request.page_size <= MAX_PAGE_SIZE:
            violations.add("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
        violations.raise_if_any()
        scope = access.listing_scope(caller(), request.collection_id, request.user_id)
        after_id = _decode_page_token(request.page_token, scope, violations)
        violations.raise_if_any()
        limit = request.page_size or DEFAULT_PAGE_SIZE
        carts = await self._carts.list(scope, after_id, limit + 1)
        next_token = _page_token(scope, carts[limit - 1].id) if len(carts) > limit else ""
        return pb.ListCartsResponse(carts=carts[:limit], next_page_token=next_token)

    async def PatchUpdateCart(
        self, request: pb.PatchUpdateCartRequest, context: Context
    ) -> pb.PatchUpdateCartResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("cart", CART_PATCHABLE)
        read.done()
        return await self._run(c.PatchCart(request.cart_id, changes), pb.PatchUpdateCartResponse)

    async def DeleteCart(
        self, request: pb.DeleteCartRequest, context: Context
    ) -> pb.DeleteCartResponse:
        require_ids(cart_id=request.cart_id)
        return await self._run(c.DeleteCart(request.cart_id), pb.DeleteCartResponse)

    # ---- address ----

    async def CreateCartAddress(
        self, request: pb.CreateCartAddressRequest, context: Context
    ) -> pb.CreateCartAddressResponse:
        read = Reader(request, cart_id=request.cart_id)
        address = read.message("address")
        read.done()
        command = c.CreateAddress(request.cart_id, address)
        return await self._run(command, pb.CreateCartAddressResponse)

    async def PatchUpdateCartAddress(
        self, request: pb.PatchUpdateCartAddressRequest, context: Context
    ) -> pb.PatchUpdateCartAddressResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("address", ADDRESS_PATCHABLE)
        read.done()
        command = c.PatchAddress(request.cart_id, changes)
        return await self._run(command, pb.PatchUpdateCartAddressResponse)

    async def DeleteCartAddress(
        self, request: pb.DeleteCartAddressRequest, context: Context
    ) -> pb.DeleteCartAddressResponse:
        require_ids(cart_id=request.cart_id)
        return await self._run(c.DeleteAddress(request.cart_id), pb.DeleteCartAddressResponse)

    # ---- items ----

    async def CreateCartItem(
        self, request: pb.CreateCartItemRequest, context: Context
    ) -> pb.CreateCartItemResponse:
        read = Reader(request, cart_id=request.cart_id)
        items = read.field("items")
        read.done()
        return await self._run(c.AddItems(request.cart_id, items), pb.CreateCartItemResponse)

    async def PatchUpdateCartItem(
        self, request: pb.PatchUpdateCartItemRequest, context: Context
    ) -> pb.PatchUpdateCartItemResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        changes = read.patch("item", ITEM_PATCHABLE)
        read.done()
        command = c.PatchItem(request.cart_id, request.item_id, changes)
        return await self._run(command, pb.PatchUpdateCartItemResponse)

    async def DeleteCartItem(
        self, request: pb.DeleteCartItemRequest, context: Context
    ) -> pb.DeleteCartItemResponse:
        require_ids(cart_id=request.cart_id, item_id=request.item_id)
        command = c.DeleteItem(request.cart_id, request.item_id)
        return await self._run(command, pb.DeleteCartItemResponse)

    # ---- item properties ----

    async def UpdateCartItemProperties(
        self, request: pb.UpdateCartItemPropertiesRequest, context: Context
    ) -> pb.UpdateCartItemPropertiesResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        properties = read.field("item_properties")
        read.done()
        command = c.ReplaceItemProperties(request.cart_id, request.item_id, properties)
        return await self._run(command, pb.UpdateCartItemPropertiesResponse)

    async def PatchUpdateCartItemProperties(
        self, request: pb.PatchUpdateCartItemPropertiesRequest, context: Context
    ) -> pb.PatchUpdateCartItemPropertiesResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        properties = read.field("item_properties")
        if not properties:
            read.violations.add("item_properties", "needs at least one entry")
        read.done()
        command = c.MergeItemProperties(request.cart_id, request.item_id, properties)
        return await self._run(command, pb.PatchUpdateCartItemPropertiesResponse)

    async def DeleteCartItemProperties(
        self, request: pb.DeleteCartItemPropertiesRequest, context: Context
    ) -> pb.DeleteCartItemPropertiesResponse:
        require_ids(cart_id=request.cart_id, item_id=request.item_id)
        command = c.DeleteItemProperties(request.cart_id, request.item_id, list(request.keys))
        return await self._run(command, pb.DeleteCartItemPropertiesResponse)

    # ---- cart properties ----

    async def CreateCartProperties(
        self, request: pb.CreateCartPropertiesRequest, context: Context
    ) -> pb.CreateCartPropertiesResponse:
        properties = self._read_properties(request, required=True)
        command = c.CreateCartProperties(request.cart_id, properties)
        return await self._run(command, pb.CreateCartPropertiesResponse)

    async def UpdateCartProperties(
        self, request: pb.UpdateCartPropertiesRequest, context: Context
    ) -> pb.UpdateCartPropertiesResponse:
        properties = self._read_properties(request, required=False)
        command = c.ReplaceCartProperties(request.cart_id, properties)
        return await self._run(command, pb.UpdateCartPropertiesResponse)

    async def PatchUpdateCartProperties(
        self, request: pb.PatchUpdateCartPropertiesRequest, context: Context
    ) -> pb.PatchUpdateCartPropertiesResponse:
        properties = self._read_properties(request, required=True)
        command = c.MergeCartProperties(request.cart_id, properties)
        return await self._run(command, pb.PatchUpdateCartPropertiesResponse)

    async def DeleteCartProperties(
        self, request: pb.DeleteCartPropertiesRequest, context: Context
    ) -> pb.DeleteCartPropertiesResponse:
        require_ids(cart_id=request.cart_id)
        command = c.DeleteCartProperties(request.cart_id, list(request.keys))
        return await self._run(command, pb.DeleteCartPropertiesResponse)

    def _read_properties(self, request: Any, *, required: bool) -> dict[str, str]:
        read = Reader(request, cart_id=request.cart_id)
        properties: dict[str, str] = read.field("cart_properties")
        if required and not properties:
            read.violations.add("cart_properties", "needs at least one entry")
        read.done()
        return properties

    # ---- shipping ----

    async def CreateCartShipping(
        self, request: pb.CreateCartShippingRequest, context: Context
    ) -> pb.CreateCartShippingResponse:
        read = Reader(request, cart_id=request.cart_id)
        shipping = read.message("shipping")
        read.done()
        command = c.CreateShipping(request.cart_id, shipping)
        return await self._run(command, pb.CreateCartShippingResponse)

    async def PatchUpdateCartShipping(
        self, request: pb.PatchUpdateCartShippingRequest, context: Context
    ) -> pb.PatchUpdateCartShippingResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("shipping", SHIPPING_PATCHABLE)
        read.done()
        command = c.PatchShipping(request.cart_id, changes)
        return await self._run(command, pb.PatchUpdateCartShippingResponse)

    async def DeleteCartShipping(
        self, request: pb.DeleteCartShippingRequest, context: Context
    ) -> pb.DeleteCartShippingResponse:
        require_ids(cart_id=request.cart_id)
        return await self._run(c.DeleteShipping(request.cart_id), pb.DeleteCartShippingResponse)

    # ---- other charges ----

    async def CreateOtherCharges(
        self, request: pb.CreateOtherChargesRequest, context: Context
    ) -> pb.CreateOtherChargesResponse:
        read = Reader(request, cart_id=request.cart_id)
        charges = read.field("other_charges")
        read.done()
        command = c.AddOtherCharges(request.cart_id, charges)
        return await self._run(command, pb.CreateOtherChargesResponse)

    async def PatchUpdateOtherCharges(
        self, request: pb.PatchUpdateOtherChargesRequest, context: Context
    ) -> pb.PatchUpdateOtherChargesResponse:
        read = Reader(request, cart_id=request.cart_id, other_charge_id=request.other_charge_id)
        changes = read.patch("other_charge", OTHER_CHARGE_PATCHABLE)
        read.done()
        command = c.PatchOtherCharge(request.cart_id, request.other_charge_id, changes)
        return await self._run(command, pb.PatchUpdateOtherChargesResponse)

    async def DeleteOtherCharges(
        self, request: pb.DeleteOtherChargesRequest, context: Context
    ) -> pb.DeleteOtherChargesResponse:
        require_ids(cart_id=request.cart_id, other_charge_id=request.other_charge_id)
        command = c.DeleteOtherCharge(request.cart_id, request.other_charge_id)
        return await self._run(command, pb.DeleteOtherChargesResponse)

    # ---- payments ----

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: Context
    ) -> pb.CreatePaymentResponse:
        read = Reader(request, cart_id=request.cart_id)
        payments = read.field("payments")
        read.done()
        return await self._run(c.AddPayments(request.cart_id, payments), pb.CreatePaymentResponse)

    async def PatchUpdateCartPayment(
        self, request: pb.PatchUpdateCartPaymentRequest, context: Context
    ) -> pb.PatchUpdateCartPaymentResponse:
        read = Reader(request, cart_id=request.cart_id, cart_payment_id=request.cart_payment_id)
        changes = read.patch("payment", PAYMENT_PATCHABLE)
        read.done()
        command = c.PatchPayment(request.cart_id, request.cart_payment_id, changes)
        return await self._run(command, pb.PatchUpdateCartPaymentResponse)

    async def DeleteCartPayment(
        self, request: pb.DeleteCartPaymentRequest, context: Context
    ) -> pb.DeleteCartPaymentResponse:
        require_ids(cart_id=request.cart_id, cart_payment_id=request.cart_payment_id)
        command = c.DeletePayment(request.cart_id, request.cart_payment_id)
        return await self._run(command, pb.DeleteCartPaymentResponse)

    # ---- promotions ----

    async def CreatePromotion(
        self, request: pb.CreatePromotionRequest, context: Context
    ) -> pb.CreatePromotionResponse:
        read = Reader(request, cart_id=request.cart_id)
        promotions = read.field("promotions")
        read.done()
        command = c.AddPromotions(request.cart_id, promotions)
        return await self._run(command, pb.CreatePromotionResponse)

    async def DeletePromotion(
        self, request: pb.DeletePromotionRequest, context: Context
    ) -> pb.DeletePromotionResponse:
        read = Reader(request, cart_id=request.cart_id)
        read.violations.check_string(
            "promo_code", request.promo_code, rule_for("Promotion", "promo_code")
        )
        read.done()
        command = c.DeletePromotion(request.cart_id, request.promo_code)
        return await self._run(command, pb.DeletePromotionResponse)

    # ---- communication preference ----

    async def UpdateCommunicationPreference(
        self, request: pb.UpdateCommunicationPreferenceRequest, context: Context
    ) -> pb.UpdateCommunicationPreferenceResponse:
        read = Reader(request, cart_id=request.cart_id)
        preference = read.message("communication_preference")
        read.done()
        command = c.ReplaceCommunicationPreference(request.cart_id, preference)
        return await self._run(command, pb.UpdateCommunicationPreferenceResponse)

    async def DeleteCommunicationPreference(
        self, request: pb.DeleteCommunicationPreferenceRequest, context: Context
    ) -> pb.DeleteCommunicationPreferenceResponse:
        require_ids(cart_id=request.cart_id)
        command = c.DeleteCommunicationPreference(request.cart_id)
        return await self._run(command, pb.DeleteCommunicationPreferenceResponse)

    # ---- calculation ----

    async def CreateCartCalculation(
        self, request: pb.CreateCartCalculationRequest, context: Context
    ) -> pb.CreateCartCalculationResponse:
        require_ids(cart_id=request.cart_id)
        command = c.CalculateCart(request.cart_id)
        return await self._run(command, pb.CreateCartCalculationResponse)

    # ---- loyalty rewards ----

    async def CreateLoyaltyRewards(
        self, request: pb.CreateLoyaltyRewardsRequest, context: Context
    ) -> pb.CreateLoyaltyRewardsResponse:
        read = Reader(request, cart_id=request.cart_id)
        details = read.field("loyalty_details")
        read.done()
        command = c.AddLoyaltyDetails(request.cart_id, details)
        return await self._run(command, pb.CreateLoyaltyRewardsResponse)

    async def PatchUpdateLoyaltyRewards(
        self, request: pb.PatchUpdateLoyaltyRewardsRequest, context: Context
    ) -> pb.PatchUpdateLoyaltyRewardsResponse:
        read = Reader(request, cart_id=request.cart_id, loyalty_detail_id=request.loyalty_detail_id)
        changes = read.patch("loyalty_detail", LOYALTY_PATCHABLE)
        read.done()
        command = c.PatchLoyaltyDetail(request.cart_id, request.loyalty_detail_id, changes)
        return await self._run(command, pb.PatchUpdateLoyaltyRewardsResponse)

    async def DeleteLoyaltyRewards(
        self, request: pb.DeleteLoyaltyRewardsRequest, context: Context
    ) -> pb.DeleteLoyaltyRewardsResponse:
        require_ids(cart_id=request.cart_id, loyalty_detail_id=request.loyalty_detail_id)
        command = c.DeleteLoyaltyDetail(request.cart_id, request.loyalty_detail_id)
        return await self._run(command, pb.DeleteLoyaltyRewardsResponse)


# ---- page tokens (server.api.page_tokens): the last cart id and the listing's scope ----


def _page_token(scope: tuple[int, str], last_id: int | None) -> str:
    return page_token(last_id, *scope)


def _decode_page_token(token: str, scope: tuple[int, str], violations: Violations) -> int:
    if not token:
        return 0
    parts = token_parts(token, 3, violations)
    if parts is None:
        return 0
    last_id, collection_id, user_id = parts
    try:
        if (int(collection_id), user_id) == scope:
            return int(last_id)
    except ValueError:
        pass
    refuse(violations)
    return 0
