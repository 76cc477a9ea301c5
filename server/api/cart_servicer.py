"""cartservice.cart.v1.CartService: translate, validate, call the domain, answer.

Every change runs in one unit of work: the cart is loaded row-locked (so concurrent changes to
one cart queue up instead of overwriting each other), one function of
server.domain.cart_operations changes it, and the transaction commits before the answer is built.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import grpc
from cartservice.cart.v1 import cart_pb2 as resources
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1 import cart_service_pb2_grpc
from google.protobuf.message import Message

from server.api import convert
from server.api.checkout import cart_checkout
from server.api.validation import Rule, Violations, limits, rule_for
from server.auth import access
from server.auth.identity import caller
from server.domain import basket_lifecycle
from server.domain import cart_operations as ops
from server.domain.basket_lifecycle import BasketState
from server.domain.cart_operations import Stamp
from server.domain.model import Cart
from server.domain.pricing import price_cart
from server.events.cart_events import build_cart_event
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.watch.basket_changes import BasketChange

T = TypeVar("T")
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

# The seed's answer to each delete: (responseCode, responseMessage).
DELETE_RECEIPTS: dict[object, tuple[str, str]] = {
    pb.DeleteCartResponse: ("PRCRDEL0000", "Cart deleted successfully."),
    pb.DeleteCartAddressResponse: ("PRADDEL0000", "Cart Address deleted successfully."),
    pb.DeleteCartItemResponse: ("PRITDEL0000", "Cart Item deleted successfully."),
    pb.DeleteCartItemPropertiesResponse: (
        "PRIPDEL0000",
        "Cart Item properties deleted successfully.",
    ),
    pb.DeleteCartPaymentResponse: ("PRPYDEL0000", "Cart payment deleted successfully."),
    pb.DeleteCartPropertiesResponse: ("PRCPDEL0000", "Cart properties deleted successfully."),
    pb.DeleteCartShippingResponse: ("PRSHDEL0000", "Cart Shipping Deleted successfully."),
    pb.DeleteCommunicationPreferenceResponse: (
        "PRC1DEL0000",
        "Cart Communication Preference deleted successfully.",
    ),
    pb.DeleteOtherChargesResponse: ("PROCDEL0000", "Other Charges deleted successfully."),
    pb.DeletePromotionResponse: ("PRPRDEL0000", "Cart promotion deleted successfully."),
    pb.DeleteLoyaltyRewardsResponse: ("PRLYDEL0000", "LoyaltyRewards deleted successfully."),
}


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


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
    def __init__(
        self,
        units: UnitOfWorkFactory,
        clock: Callable[[], int] = epoch_ms,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._units = units
        self._clock = clock
        # Told after every commit that wrote outbox rows (wakes the in-process relay).
        self._on_commit = on_commit

    # ---- plumbing ----

    def _stamp(self) -> Stamp:
        return Stamp(actor=caller().user_id, now_ms=self._clock())

    @staticmethod
    async def _load(uow: UnitOfWork, cart_id: int, *, for_update: bool = False) -> Cart:
        """The cart, if the caller may reach it: every RPC on a cart loads it through here."""
        cart = await uow.carts.get(cart_id, for_update=for_update)
        access.authorize_cart(caller(), cart)
        return cart

    @staticmethod
    async def _basket_of(uow: UnitOfWork, cart: Cart) -> BasketState | None:
        """The basket this cart holds, if any; a basket's lifecycle rules bind cart calls too."""
        if cart.basket_id is None:
            return None
        # Read after the cart's row lock is held: every basket change holds it too.
        basket = await uow.baskets.get(cart.basket_id)
        basket_lifecycle.ensure_mutable(basket)
        return basket

    async def _change(
        self,
        request: Any,
        operation: Callable[[Cart, Stamp], T],
        respond: Callable[[T], R],
        *,
        changes_cart: bool = True,
    ) -> R:
        """Runs one operation on the request's cart and writes its event, in one transaction."""
        async with self._units() as uow:
            cart = await self._load(uow, request.cart_id, for_update=True)
            basket = await self._basket_of(uow, cart) if changes_cart else None
            stamp = self._stamp()
            result = operation(cart, stamp)
            await uow.carts.flush()  # new rows get their ids before the response is built
            response = respond(result)
            await self._record(uow, request, response, cart, stamp)
            if basket is not None:
                uow.basket_changed(BasketChange(basket.basket_id, cart.version))
            await uow.commit()
        self._on_commit()
        return response

    async def _record(
        self, uow: UnitOfWork, request: Any, response: Message, cart: Cart, stamp: Stamp
    ) -> None:
        event = build_cart_event(request, response, cart, caller(), stamp.now_ms)
        uow.outbox.add(event, stamp.now_ms)

    async def _delete(
        self, request: Any, operation: Callable[[Cart, Stamp], None], response: Callable[..., R]
    ) -> R:
        code, message = DELETE_RECEIPTS[response]
        return await self._change(
            request,
            operation,
            lambda _: response(
                response_code=code, response_message=message, time_stamp=str(self._clock())
            ),
        )

    # ---- cart ----

    async def CreateCart(
        self, request: pb.CreateCartRequest, context: Context
    ) -> pb.CreateCartResponse:
        read = Reader(request)
        cart: Cart = read.message("cart")
        read.done()
        cart.user_id, cart.collection_id = access.new_cart_owner(caller())
        async with self._units() as uow:
            stamp = self._stamp()
            ops.new_cart(cart, stamp)
            uow.carts.add(cart)
            await uow.carts.flush()
            response = pb.CreateCartResponse(carts=[convert.to_proto(cart, resources.Cart)])
            await self._record(uow, request, response, cart, stamp)
            await uow.commit()
        self._on_commit()
        return response

    async def GetCart(self, request: pb.GetCartRequest, context: Context) -> pb.GetCartResponse:
        require_ids(cart_id=request.cart_id)
        async with self._units.reading() as uow:
            cart = await uow.carts.get_message(request.cart_id)
        access.authorize_owner(caller(), cart.collection_id, cart.user_id, "cart", cart.id)
        return pb.GetCartResponse(cart=cart)

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
        async with self._units.reading() as uow:
            carts = await uow.carts.list_for_user(*scope, after_id=after_id, limit=limit + 1)
        next_token = _page_token(scope, carts[limit - 1].id) if len(carts) > limit else ""
        return pb.ListCartsResponse(
            carts=carts[:limit],
            next_page_token=next_token,
        )

    async def PatchUpdateCart(
        self, request: pb.PatchUpdateCartRequest, context: Context
    ) -> pb.PatchUpdateCartResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("cart", CART_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_cart(c, changes, s),
            lambda cart: pb.PatchUpdateCartResponse(cart=convert.to_proto(cart, resources.Cart)),
        )

    async def DeleteCart(
        self, request: pb.DeleteCartRequest, context: Context
    ) -> pb.DeleteCartResponse:
        require_ids(cart_id=request.cart_id)
        code, message = DELETE_RECEIPTS[pb.DeleteCartResponse]
        async with self._units() as uow:
            cart = await self._load(uow, request.cart_id, for_update=True)
            ops.check_deletable(cart)
            basket = await self._basket_of(uow, cart)
            if basket is not None:
                uow.basket_changed(BasketChange(basket.basket_id, cart.version, deleted=True))
            stamp = self._stamp()
            await uow.carts.delete(cart)
            response = pb.DeleteCartResponse(
                response_code=code, response_message=message, time_stamp=str(stamp.now_ms)
            )
            await self._record(uow, request, response, cart, stamp)
            await uow.commit()
        self._on_commit()
        return response

    # ---- address ----

    async def CreateCartAddress(
        self, request: pb.CreateCartAddressRequest, context: Context
    ) -> pb.CreateCartAddressResponse:
        read = Reader(request, cart_id=request.cart_id)
        address = read.message("address")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.create_address(c, address, s),
            lambda created: pb.CreateCartAddressResponse(
                address=convert.to_proto(created, resources.Address)
            ),
        )

    async def PatchUpdateCartAddress(
        self, request: pb.PatchUpdateCartAddressRequest, context: Context
    ) -> pb.PatchUpdateCartAddressResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("address", ADDRESS_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_address(c, changes, s),
            lambda address: pb.PatchUpdateCartAddressResponse(
                address=convert.to_proto(address, resources.Address)
            ),
        )

    async def DeleteCartAddress(
        self, request: pb.DeleteCartAddressRequest, context: Context
    ) -> pb.DeleteCartAddressResponse:
        require_ids(cart_id=request.cart_id)
        return await self._delete(request, ops.delete_address, pb.DeleteCartAddressResponse)

    # ---- items ----

    async def CreateCartItem(
        self, request: pb.CreateCartItemRequest, context: Context
    ) -> pb.CreateCartItemResponse:
        read = Reader(request, cart_id=request.cart_id)
        items = read.field("items")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.add_items(c, items, s, max_items=limits().items_per_cart),
            lambda created: pb.CreateCartItemResponse(
                items=[convert.to_proto(i, resources.CartItem) for i in created]
            ),
        )

    async def PatchUpdateCartItem(
        self, request: pb.PatchUpdateCartItemRequest, context: Context
    ) -> pb.PatchUpdateCartItemResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        changes = read.patch("item", ITEM_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_item(c, request.item_id, changes, s),
            lambda item: pb.PatchUpdateCartItemResponse(
                items=[convert.to_proto(item, resources.CartItem)]
            ),
        )

    async def DeleteCartItem(
        self, request: pb.DeleteCartItemRequest, context: Context
    ) -> pb.DeleteCartItemResponse:
        require_ids(cart_id=request.cart_id, item_id=request.item_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_item(c, request.item_id, s),
            pb.DeleteCartItemResponse,
        )

    # ---- item properties ----

    async def UpdateCartItemProperties(
        self, request: pb.UpdateCartItemPropertiesRequest, context: Context
    ) -> pb.UpdateCartItemPropertiesResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        properties = read.field("item_properties")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.replace_item_properties(c, request.item_id, properties, s),
            lambda result: pb.UpdateCartItemPropertiesResponse(item_properties_list=result),
        )

    async def PatchUpdateCartItemProperties(
        self, request: pb.PatchUpdateCartItemPropertiesRequest, context: Context
    ) -> pb.PatchUpdateCartItemPropertiesResponse:
        read = Reader(request, cart_id=request.cart_id, item_id=request.item_id)
        properties = read.field("item_properties")
        if not properties:
            read.violations.add("item_properties", "needs at least one entry")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.merge_item_properties(c, request.item_id, properties, s),
            lambda result: pb.PatchUpdateCartItemPropertiesResponse(item_properties_list=result),
        )

    async def DeleteCartItemProperties(
        self, request: pb.DeleteCartItemPropertiesRequest, context: Context
    ) -> pb.DeleteCartItemPropertiesResponse:
        require_ids(cart_id=request.cart_id, item_id=request.item_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_item_properties(c, request.item_id, request.keys, s),
            pb.DeleteCartItemPropertiesResponse,
        )

    # ---- cart properties ----

    async def CreateCartProperties(
        self, request: pb.CreateCartPropertiesRequest, context: Context
    ) -> pb.CreateCartPropertiesResponse:
        properties = self._read_properties(request, required=True)
        return await self._change(
            request,
            lambda c, s: ops.create_cart_properties(c, properties, s),
            lambda result: pb.CreateCartPropertiesResponse(cart_properties_list=result),
        )

    async def UpdateCartProperties(
        self, request: pb.UpdateCartPropertiesRequest, context: Context
    ) -> pb.UpdateCartPropertiesResponse:
        properties = self._read_properties(request, required=False)
        return await self._change(
            request,
            lambda c, s: ops.replace_cart_properties(c, properties, s),
            lambda result: pb.UpdateCartPropertiesResponse(cart_properties_list=result),
        )

    async def PatchUpdateCartProperties(
        self, request: pb.PatchUpdateCartPropertiesRequest, context: Context
    ) -> pb.PatchUpdateCartPropertiesResponse:
        properties = self._read_properties(request, required=True)
        return await self._change(
            request,
            lambda c, s: ops.merge_cart_properties(c, properties, s),
            lambda result: pb.PatchUpdateCartPropertiesResponse(cart_properties_list=result),
        )

    async def DeleteCartProperties(
        self, request: pb.DeleteCartPropertiesRequest, context: Context
    ) -> pb.DeleteCartPropertiesResponse:
        require_ids(cart_id=request.cart_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_cart_properties(c, request.keys, s),
            pb.DeleteCartPropertiesResponse,
        )

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
        return await self._change(
            request,
            lambda c, s: ops.create_shipping(c, shipping, s),
            lambda created: pb.CreateCartShippingResponse(
                shipping=convert.to_proto(created, resources.Shipping)
            ),
        )

    async def PatchUpdateCartShipping(
        self, request: pb.PatchUpdateCartShippingRequest, context: Context
    ) -> pb.PatchUpdateCartShippingResponse:
        read = Reader(request, cart_id=request.cart_id)
        changes = read.patch("shipping", SHIPPING_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_shipping(c, changes, s),
            lambda shipping: pb.PatchUpdateCartShippingResponse(
                shipping=convert.to_proto(shipping, resources.Shipping)
            ),
        )

    async def DeleteCartShipping(
        self, request: pb.DeleteCartShippingRequest, context: Context
    ) -> pb.DeleteCartShippingResponse:
        require_ids(cart_id=request.cart_id)
        return await self._delete(request, ops.delete_shipping, pb.DeleteCartShippingResponse)

    # ---- other charges ----

    async def CreateOtherCharges(
        self, request: pb.CreateOtherChargesRequest, context: Context
    ) -> pb.CreateOtherChargesResponse:
        read = Reader(request, cart_id=request.cart_id)
        charges = read.field("other_charges")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.add_other_charges(c, charges, s),
            lambda created: pb.CreateOtherChargesResponse(
                other_charges=[convert.to_proto(c, resources.OtherCharge) for c in created]
            ),
        )

    async def PatchUpdateOtherCharges(
        self, request: pb.PatchUpdateOtherChargesRequest, context: Context
    ) -> pb.PatchUpdateOtherChargesResponse:
        read = Reader(request, cart_id=request.cart_id, other_charge_id=request.other_charge_id)
        changes = read.patch("other_charge", OTHER_CHARGE_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_other_charge(c, request.other_charge_id, changes, s),
            lambda charge: pb.PatchUpdateOtherChargesResponse(
                other_charges=[convert.to_proto(charge, resources.OtherCharge)]
            ),
        )

    async def DeleteOtherCharges(
        self, request: pb.DeleteOtherChargesRequest, context: Context
    ) -> pb.DeleteOtherChargesResponse:
        require_ids(cart_id=request.cart_id, other_charge_id=request.other_charge_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_other_charge(c, request.other_charge_id, s),
            pb.DeleteOtherChargesResponse,
        )

    # ---- payments ----

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: Context
    ) -> pb.CreatePaymentResponse:
        read = Reader(request, cart_id=request.cart_id)
        payments = read.field("payments")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.add_payments(c, payments, s),
            lambda created: pb.CreatePaymentResponse(
                payment=[convert.to_proto(p, resources.Payment) for p in created]
            ),
        )

    async def PatchUpdateCartPayment(
        self, request: pb.PatchUpdateCartPaymentRequest, context: Context
    ) -> pb.PatchUpdateCartPaymentResponse:
        read = Reader(request, cart_id=request.cart_id, cart_payment_id=request.cart_payment_id)
        changes = read.patch("payment", PAYMENT_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_payment(c, request.cart_payment_id, changes, s),
            lambda payment: pb.PatchUpdateCartPaymentResponse(
                payment=[convert.to_proto(payment, resources.Payment)]
            ),
        )

    async def DeleteCartPayment(
        self, request: pb.DeleteCartPaymentRequest, context: Context
    ) -> pb.DeleteCartPaymentResponse:
        require_ids(cart_id=request.cart_id, cart_payment_id=request.cart_payment_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_payment(c, request.cart_payment_id, s),
            pb.DeleteCartPaymentResponse,
        )

    # ---- promotions ----

    async def CreatePromotion(
        self, request: pb.CreatePromotionRequest, context: Context
    ) -> pb.CreatePromotionResponse:
        read = Reader(request, cart_id=request.cart_id)
        promotions = read.field("promotions")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.add_promotions(c, promotions, s),
            lambda created: pb.CreatePromotionResponse(
                promotion=[convert.to_proto(p, resources.Promotion) for p in created]
            ),
        )

    async def DeletePromotion(
        self, request: pb.DeletePromotionRequest, context: Context
    ) -> pb.DeletePromotionResponse:
        read = Reader(request, cart_id=request.cart_id)
        read.violations.check_string(
            "promo_code", request.promo_code, rule_for("Promotion", "promo_code")
        )
        read.done()
        return await self._delete(
            request,
            lambda c, s: ops.delete_promotion(c, request.promo_code, s),
            pb.DeletePromotionResponse,
        )

    # ---- communication preference ----

    async def UpdateCommunicationPreference(
        self, request: pb.UpdateCommunicationPreferenceRequest, context: Context
    ) -> pb.UpdateCommunicationPreferenceResponse:
        read = Reader(request, cart_id=request.cart_id)
        preference = read.message("communication_preference")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.replace_communication_preference(c, preference, s),
            lambda result: pb.UpdateCommunicationPreferenceResponse(
                communication_preference=convert.to_proto(result, resources.CommunicationPreference)
            ),
        )

    async def DeleteCommunicationPreference(
        self, request: pb.DeleteCommunicationPreferenceRequest, context: Context
    ) -> pb.DeleteCommunicationPreferenceResponse:
        require_ids(cart_id=request.cart_id)
        return await self._delete(
            request,
            ops.delete_communication_preference,
            pb.DeleteCommunicationPreferenceResponse,
        )

    # ---- calculation ----

    async def CreateCartCalculation(
        self, request: pb.CreateCartCalculationRequest, context: Context
    ) -> pb.CreateCartCalculationResponse:
        require_ids(cart_id=request.cart_id)
        # Nothing changes, but the calculation is an event of its own (seed 003, row 30).
        return await self._change(
            request,
            lambda cart, stamp: cart,
            lambda cart: pb.CreateCartCalculationResponse(
                cart_checkout=cart_checkout(cart, price_cart(cart))
            ),
            changes_cart=False,
        )

    # ---- loyalty rewards ----

    async def CreateLoyaltyRewards(
        self, request: pb.CreateLoyaltyRewardsRequest, context: Context
    ) -> pb.CreateLoyaltyRewardsResponse:
        read = Reader(request, cart_id=request.cart_id)
        details = read.field("loyalty_details")
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.add_loyalty_details(c, details, s),
            lambda created: pb.CreateLoyaltyRewardsResponse(
                loyalty_details=[convert.to_proto(d, resources.LoyaltyDetail) for d in created]
            ),
        )

    async def PatchUpdateLoyaltyRewards(
        self, request: pb.PatchUpdateLoyaltyRewardsRequest, context: Context
    ) -> pb.PatchUpdateLoyaltyRewardsResponse:
        read = Reader(request, cart_id=request.cart_id, loyalty_detail_id=request.loyalty_detail_id)
        changes = read.patch("loyalty_detail", LOYALTY_PATCHABLE)
        read.done()
        return await self._change(
            request,
            lambda c, s: ops.patch_loyalty_detail(c, request.loyalty_detail_id, changes, s),
            lambda detail: pb.PatchUpdateLoyaltyRewardsResponse(
                loyalty_details=[convert.to_proto(detail, resources.LoyaltyDetail)]
            ),
        )

    async def DeleteLoyaltyRewards(
        self, request: pb.DeleteLoyaltyRewardsRequest, context: Context
    ) -> pb.DeleteLoyaltyRewardsResponse:
        require_ids(cart_id=request.cart_id, loyalty_detail_id=request.loyalty_detail_id)
        return await self._delete(
            request,
            lambda c, s: ops.delete_loyalty_detail(c, request.loyalty_detail_id, s),
            pb.DeleteLoyaltyRewardsResponse,
        )


# ---- page tokens: opaque to clients, bound to the query they continue ----


def _page_token(scope: tuple[int, str], last_id: int | None) -> str:
    raw = f"{last_id}:{scope[0]}:{scope[1]}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_page_token(token: str, scope: tuple[int, str], violations: Violations) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        last_id, collection_id, user_id = raw.split(":", 2)
        if (int(collection_id), user_id) == scope:
            return int(last_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    violations.add("page_token", "is not a token of this listing")
    return 0
