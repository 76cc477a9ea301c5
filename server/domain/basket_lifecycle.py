"""The storefront basket (seeds 000 and 002) as rules over a cart: pure functions, no I/O.

A basket is a cart of the cart service plus a little state of its own (BasketState). Each line is
a cart item of quantity 1 with one sku naming the product, priced at the product's retail price
when it was added; the promo code is the cart's one promotion; the payment intent is a cart
payment. Lifecycle:

    Basket (mutable) --CreatePaymentIntent--> Basket, locked --DeletePaymentIntent--> mutable
    Basket, locked --CompleteBasket--> Settled (forever immutable)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from server.domain import cart_operations as ops
from server.domain import events
from server.domain.calculation import Calculation, calculate
from server.domain.cart_operations import Stamp
from server.domain.catalog import Catalog, PromotionRule
from server.domain.errors import FailedPrecondition, NotFound
from server.domain.model import Cart, CartItem, CartStatus, Payment, Promotion, Sku

# The error codes of seed 002, and the ones this service adds (README, "Basket errors").
PROMO_CODE_DOESNT_EXIST = "PromoCodeDoesntExist"
UNAVAILABLE_PRODUCT = "UnavailableProduct"
ORDER_WAS_PROCESSED = "OrderWasProcessed"
BASKET_LOCKED = "BasketLocked"
NO_PAYMENT_INTENT = "NoPaymentIntent"
EMPTY_BASKET = "EmptyBasket"
LINE_ITEM_NOT_FOUND = "LineItemNotFound"
BASKET_NOT_FOUND = "BasketNotFound"
BASKET_DELETED = "BasketDeleted"  # only on WatchBasket streams

PAYMENT_INTENT_TYPE = "PAYMENT_INTENT"
BASKET_CART_TYPE = "basket"


class Stage(StrEnum):
    BASKET = "Basket"
    SETTLED = "Settled"


@dataclass
class BasketState:
    basket_id: str
    cart_id: int
    sales_channel_id: str
    stage: Stage = Stage.BASKET
    # Every line of a basket is in one currency: that of its first product.
    currency: str | None = None
    promo_code: str | None = None
    payment_intent_id: str | None = None
    payment_intent_time: int | None = None
    payment_reference: str | None = None

    @property
    def locked(self) -> bool:
        return self.payment_intent_id is not None


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    retail_price: Decimal
    currency: str
    provider: str
    stock: int


@dataclass(frozen=True)
class Line:
    line_item_id: str
    product_id: str
    product_name: str
    provider: str
    retail_price: Decimal
    quoted_price: Decimal


@dataclass(frozen=True)
class ProviderBasket:
    provider: str
    line_item_ids: list[str]
    quoted_total: Decimal


@dataclass(frozen=True)
class BasketView:
    """What a storefront sees of a basket: lines with quoted prices, per provider, with totals."""

    state: BasketState
    version: int
    lines: list[Line]
    currency: str
    retail_total: Decimal
    quoted_total: Decimal
    provider_baskets: list[ProviderBasket] = field(default_factory=list)


# ---- reading ----


def with_cart(state: BasketState, cart: Cart) -> BasketState:
    """The state completed from its cart: the promo code is the cart's promotion, kept in one
    place, so a promotion removed through CartService is gone from the basket too."""
    state.promo_code = cart.promotions[0].promo_code if cart.promotions else None
    return state


def product_of(item: CartItem) -> str:
    return item.skus[0].product_id if item.skus else ""


def products_in(cart: Cart) -> set[str]:
    return {product_of(item) for item in cart.items}


def quantities(cart: Cart) -> dict[str, int]:
    """Units per product: what a payment intent reserves."""
    return dict(Counter(product_of(item) for item in cart.items))


def view(
    state: BasketState,
    cart: Cart,
    products: Mapping[str, Product],
    catalog: Catalog,
    now_ms: int,
) -> BasketView:
    """The basket priced by the pricing engine, as CreateCartCalculation prices its cart: each
    line's retail price is its price after markdown, its quoted price that less discounts."""
    priced = price(state, cart, catalog, now_ms)
    lines = []
    for line in priced.lines:
        product = products.get(product_of(line.item))
        lines.append(
            Line(
                line_item_id=str(line.item.id),
                product_id=product_of(line.item),
                product_name=product.name if product else "",
                provider=product.provider if product else "",
                retail_price=line.total.price_after_markdown,
                quoted_price=line.total.price_after_discount,
            )
        )
    return BasketView(
        state=state,
        version=cart.version,
        lines=lines,
        currency=state.currency or "",
        retail_total=priced.value.price_after_markdown,
        quoted_total=priced.value.price_after_discount,
        provider_baskets=_by_provider(lines),
    )


def price(state: BasketState, cart: Cart, catalog: Catalog, now_ms: int) -> Calculation:
    return calculate(cart, catalog, now=now_ms, currency=state.currency)


def quoted_total(state: BasketState, cart: Cart, catalog: Catalog, now_ms: int) -> Decimal:
    return price(state, cart, catalog, now_ms).value.price_after_discount


def _by_provider(lines: Iterable[Line]) -> list[ProviderBasket]:
    groups: dict[str, list[Line]] = {}
    for line in lines:
        groups.setdefault(line.provider, []).append(line)
    return [
        ProviderBasket(
            provider=provider,
            line_item_ids=[line.line_item_id for line in group],
            quoted_total=sum((line.quoted_price for line in group), Decimal(0)),
        )
        for provider, group in sorted(groups.items())
    ]


# ---- rules ----


def ensure_mutable(state: BasketState) -> None:
    if state.stage is Stage.SETTLED:
        raise FailedPrecondition(
            f"basket {state.basket_id} was paid for; create a new basket", ORDER_WAS_PROCESSED
        )
    if state.locked:
        raise FailedPrecondition(
            f"basket {state.basket_id} has a payment intent; delete it to change the basket",
            BASKET_LOCKED,
        )


def add_lines(
    cart: Cart, state: BasketState, product: Product, quantity: int, stamp: Stamp, max_lines: int
) -> list[CartItem]:
    ensure_mutable(state)
    if state.currency and product.currency != state.currency:
        raise FailedPrecondition(
            f"product {product.id} is priced in {product.currency}, the basket in {state.currency}",
            UNAVAILABLE_PRODUCT,
        )
    wanted = quantities(cart).get(product.id, 0) + quantity
    if product.stock < wanted:
        raise FailedPrecondition(
            f"product {product.id} has {product.stock} in stock; the basket would need {wanted}",
            UNAVAILABLE_PRODUCT,
        )
    lines = [_line(product) for _ in range(quantity)]
    ops.add_items(cart, lines, stamp, max_items=max_lines)
    state.currency = product.currency
    return lines


def _line(product: Product) -> CartItem:
    sku = Sku(
        sku_id=product.id,
        product_id=product.id,
        price=product.retail_price,
        sku_quantity=1,
        sku_quantity_v2=Decimal(1),
    )
    return CartItem(quantity=1, skus=[sku])


def remove_lines(cart: Cart, state: BasketState, line_ids: list[int], stamp: Stamp) -> None:
    """Removes every listed line, or none when one of them is not in the basket."""
    ensure_mutable(state)
    present = {item.id for item in cart.items}
    for line_id in line_ids:
        if line_id not in present:
            raise NotFound("line item", line_id, reason=LINE_ITEM_NOT_FOUND)
    for line_id in dict.fromkeys(line_ids):
        ops.delete_item(cart, line_id, stamp)
    if not cart.items:
        state.currency = None


def apply_promo(
    cart: Cart, state: BasketState, code: str, catalog: Catalog, stamp: Stamp
) -> str | None:
    """Makes `code` (a rule of the catalog) the basket's promo code; answers the code it
    replaced, if any."""
    ensure_mutable(state)
    rule = check_promo(code, state, cart, catalog, stamp.now_ms)
    previous = state.promo_code
    if previous == code:
        return None
    if previous is not None:
        ops.delete_promotion(cart, previous, stamp)
    name = rule.description or rule.title
    ops.add_promotions(cart, [Promotion(promo_code=code, name=name)], stamp)
    state.promo_code = code
    return previous


def check_promo(
    code: str, state: BasketState, cart: Cart, catalog: Catalog, now_ms: int
) -> PromotionRule:
    """The catalog's rule of `code`, if it would apply to the basket now."""
    rule = catalog.rule_for_code(code)
    if rule is None:
        raise NotFound("promo code", code, reason=PROMO_CODE_DOESNT_EXIST)
    if rule.valid_from is not None and now_ms < rule.valid_from:
        raise FailedPrecondition(f"promo code {code} is not valid yet", PROMO_CODE_DOESNT_EXIST)
    if rule.valid_until is not None and now_ms >= rule.valid_until:
        raise FailedPrecondition(f"promo code {code} has expired", PROMO_CODE_DOESNT_EXIST)
    subtotal = price(state, cart, catalog, now_ms).value.price_after_markdown
    if rule.minimum_subtotal is not None and subtotal < rule.minimum_subtotal:
        raise FailedPrecondition(
            f"promo code {code} needs a subtotal of at least {rule.minimum_subtotal} "
            f"{state.currency or catalog.currency}",
            PROMO_CODE_DOESNT_EXIST,
        )
    return rule


def remove_promo(cart: Cart, state: BasketState, stamp: Stamp) -> str | None:
    """Removes the promo code; answers the removed code (None: there was none, nothing changed)."""
    ensure_mutable(state)
    previous = state.promo_code
    if previous is not None:
        ops.delete_promotion(cart, previous, stamp)
        state.promo_code = None
    return previous


def create_payment_intent(
    cart: Cart, state: BasketState, intent_id: str, amount: Decimal, stamp: Stamp
) -> Payment:
    ensure_mutable(state)
    if not cart.items:
        raise FailedPrecondition(f"basket {state.basket_id} is empty", EMPTY_BASKET)
    payment = Payment(
        payment_id=intent_id,
        amount=amount,
        currency=state.currency or "",
        payment_type=PAYMENT_INTENT_TYPE,
    )
    ops.add_payments(cart, [payment], stamp)
    state.payment_intent_id = intent_id
    state.payment_intent_time = stamp.now_ms
    cart.record(events.PaymentIntentCreated())
    return payment


def intent_payment(cart: Cart, state: BasketState) -> Payment:
    for payment in cart.payments:
        if payment.payment_id == state.payment_intent_id:
            return payment
    raise NotFound("payment intent", state.payment_intent_id, reason=NO_PAYMENT_INTENT)


def _require_intent(state: BasketState) -> None:
    if state.stage is Stage.SETTLED:
        raise FailedPrecondition(
            f"basket {state.basket_id} was paid for; create a new basket", ORDER_WAS_PROCESSED
        )
    if not state.locked:
        raise FailedPrecondition(
            f"basket {state.basket_id} has no payment intent", NO_PAYMENT_INTENT
        )


def delete_payment_intent(cart: Cart, state: BasketState, stamp: Stamp) -> int:
    """Removes the intent's payment; answers its cart payment id."""
    _require_intent(state)
    payment = intent_payment(cart, state)
    assert payment.id is not None
    ops.delete_payment(cart, payment.id, stamp)
    state.payment_intent_id = state.payment_intent_time = None
    cart.record(events.PaymentIntentDeleted())
    return payment.id


def complete(cart: Cart, state: BasketState, reference: str, stamp: Stamp) -> Payment | None:
    """Settles the basket; None when it was already settled with this same reference."""
    if state.stage is Stage.SETTLED and state.payment_reference == reference:
        return None
    _require_intent(state)
    payment = intent_payment(cart, state)
    assert payment.id is not None
    ops.patch_payment(cart, payment.id, {"transaction_id": reference}, stamp)
    ops.patch_cart(cart, {"status": CartStatus.CHECKED_OUT}, stamp)
    state.stage = Stage.SETTLED
    state.payment_reference = reference
    cart.record(events.BasketCompleted())
    return payment


def delete(cart: Cart, state: BasketState) -> None:
    ensure_mutable(state)
    ops.delete_cart(cart)
    cart.record(events.BasketDeleted())


def new_basket_cart(
    basket_id: str, sales_channel_id: str, owner: tuple[str, int], stamp: Stamp
) -> Cart:
    """The cart that holds a new basket (its BasketState follows once the cart has its id)."""
    cart = Cart(
        type=BASKET_CART_TYPE,
        custom_properties={"basketId": basket_id, "salesChannelId": sales_channel_id},
    )
    cart.user_id, cart.collection_id = owner
    ops.new_cart(cart, stamp)
    cart.basket_id = basket_id
    cart.record(events.BasketCreated())
    return cart


def mark_updated(cart: Cart) -> bool:
    """Records BasketUpdated after the events of a change; False: the call changed nothing."""
    if not cart.events:
        return False
    cart.record(events.BasketUpdated())
    return True
