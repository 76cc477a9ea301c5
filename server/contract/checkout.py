"""Renders a domain CartPrice as the seed's `cartCheckout` message."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from cartservice.cart.v1 import calculation_pb2 as pb

from server.contract.messages import decimal_message
from server.domain.model import Cart
from server.domain.pricing import ZERO, CartPrice, LinePrice


def cart_checkout(cart: Cart, price: CartPrice, max_quantity: int) -> pb.CartCheckout:
    """`max_quantity`: the most of one item a cart line may hold (a setting)."""
    limit = pb.QuantityLimit(min_value=1, max_value=max_quantity)
    return pb.CartCheckout(
        items=[_item(line, limit) for line in price.lines],
        promotion_details=_promotion_details(cart),
        payment_value=pb.PaymentValue(
            bag_value=decimal_message(price.grand_total),
            total_amount_paid=decimal_message(price.amount_paid),
            total_amount_unpaid=decimal_message(price.amount_unpaid),
        ),
        value=_cart_value(price),
        age_verification=pb.AgeVerification(),
        cart_id=str(cart.id),
        cart_type=cart.type,
        user_id=cart.user_id,
        created_time=cart.created_time,
        last_updated_time=cart.updated_time,
    )


def _promotion_details(cart: Cart) -> pb.PromotionDetails:
    # A cart promotion carries a code and a name but no value (seed 003), so each is listed as
    # applied for nothing; pricing promotions by value comes with the promo-code catalog.
    zero = decimal_message(ZERO)
    return pb.PromotionDetails(
        promotions=[
            pb.AppliedPromotion(
                type="CART",
                unit_price=zero,
                total_price=zero,
                unit_delivery_charge=zero,
                total_delivery_charge=zero,
                breakup=[
                    pb.PromotionBreakup(
                        identifier=promotion.promo_code,
                        title=promotion.name,
                        description=promotion.name,
                        type="CART",
                        value_type="PRICE",
                        unit_value=zero,
                        total_value=zero,
                        apply_before_taxation=True,
                    )
                ],
            )
            for promotion in cart.promotions
        ]
    )


def _item(line: LinePrice, limit: pb.QuantityLimit) -> pb.CheckoutItem:
    item = line.item
    return pb.CheckoutItem(
        quantity_v2=decimal_message(item.quantity_v2 or Decimal(item.quantity)),
        item_id=item.id or 0,
        quantity=item.quantity,
        skus=[
            pb.CheckoutSku(
                sku_id=sku.sku_id,
                product_id=sku.product_id,
                type=sku.bundle_sku_type,
                price=decimal_message(sku.price),
                regular_price=decimal_message(sku.price),
                quantity_limit=limit,
            )
            for sku in item.skus
        ],
        unit_value=_item_value(
            line.unit_price, line.unit_other_charges, line.unit_other_charges_by_name
        ),
        total_value=_item_value(
            line.total_price, line.total_other_charges, line.other_charges_by_name
        ),
    )


def _item_value(price: Decimal, charges: Decimal, by_name: Mapping[str, Decimal]) -> pb.ItemValue:
    d = decimal_message
    return pb.ItemValue(
        original_price=d(price),
        markdown=d(ZERO),
        price_after_markdown=d(price),
        discount=d(ZERO),
        price_after_discount=d(price),
        tax_on_price=d(ZERO),
        price_including_tax=d(price),
        delivery_charge=d(ZERO),
        delivery_charge_discount=d(ZERO),
        delivery_charge_after_discount=d(ZERO),
        tax_on_delivery_charge=d(ZERO),
        delivery_charge_including_tax=d(ZERO),
        other_charges=d(charges),
        tax_on_other_charges=d(ZERO),
        other_charges_including_tax=d(charges),
        price_including_other_charges=d(price + charges),
        over_all_discount=d(ZERO),
        over_all_tax=d(ZERO),
        grand_total=d(price + charges),
        calculated_other_charges={name: d(amount) for name, amount in by_name.items()},
    )


def _cart_value(price: CartPrice) -> pb.CartValue:
    d = decimal_message
    zero = d(ZERO)
    charges = dict(price.other_charges_by_name)
    for line in price.lines:
        for name, amount in line.other_charges_by_name.items():
            charges[name] = charges.get(name, ZERO) + amount
    return pb.CartValue(
        count=d(price.count),
        original_price=d(price.original_price),
        markdown=zero,
        price_after_markdown=d(price.original_price),
        item_discount=zero,
        cart_discount=zero,
        loyalty_discount=d(price.loyalty_discount),
        voucher_discount=zero,
        total_discount=d(price.loyalty_discount),
        price_after_discount=d(price.price_after_discount),
        tax_on_price=zero,
        price_including_tax=d(price.price_after_discount),
        item_delivery_charge=zero,
        item_delivery_charge_discount=zero,
        item_delivery_charge_after_discount=zero,
        cart_delivery_charge=zero,
        cart_delivery_charge_discount=zero,
        cart_delivery_charge_after_discount=zero,
        total_delivery_charge_before_discount=zero,
        total_delivery_charge_discount=zero,
        total_delivery_charge=zero,
        tax_on_delivery_charge=zero,
        delivery_charge_including_tax=zero,
        other_charges=d(price.other_charges),
        tax_on_other_charges=zero,
        other_charges_including_tax=d(price.other_charges),
        price_including_other_charges=d(price.grand_total),
        over_all_discount=d(price.loyalty_discount),
        over_all_tax=zero,
        grand_total=d(price.grand_total),
        calculated_other_charges={name: d(amount) for name, amount in charges.items()},
    )
