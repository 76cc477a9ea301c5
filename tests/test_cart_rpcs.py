"""Every CartService RPC on its happy path, with the seed's example data, against a real server."""

from __future__ import annotations

from decimal import Decimal

import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D

from tests.identities import on_behalf_of
from tests.seed_examples import decimals, from_seed, seed_payload
from tests.support import create_cart, get, mask, seed_cart


def test_create_cart_assigns_ids_and_keeps_the_seed_values(stub: CartServiceStub) -> None:
    sent = seed_cart()
    created = stub.CreateCart(pb.CreateCartRequest(cart=sent)).carts[0]

    assert created.id > 0
    assert created.status == r.CART_STATUS_ACTIVE
    assert created.created_by == created.updated_by == "1"
    assert created.created_time == created.updated_time > 1_700_000_000_000
    assert created.items[0].id > 0 and created.items[0].skus[0].id > 0
    assert created.items[0].shipping.id > 0 and created.shipping.id > 0
    assert created.items[0].shipping.id != created.shipping.id
    assert created.payments[0].id > 0
    assert created.items[0].created_time.endswith(" GMT " + created.items[0].created_time[-4:])
    assert decimals(created.payments[0].amount) == Decimal(100)
    assert created.communication_preference.contact_method == r.CONTACT_METHOD_TEXT
    assert dict(created.custom_properties) == dict(sent.custom_properties)
    assert [p.promo_code for p in created.promotions] == ["qlDDE3t2hY"]
    assert get(stub, created.id) == created


def test_get_cart_returns_what_was_stored(stub: CartServiceStub) -> None:
    created = create_cart(stub)
    assert get(stub, created.id) == created


def test_list_carts_pages_through_one_users_carts_only(stub: CartServiceStub) -> None:
    user = f"list-{create_cart(stub).id}"
    ids = [create_cart(stub, user).id for _ in range(5)]
    create_cart(stub, user + "-other")

    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = stub.ListCarts(
            pb.ListCartsRequest(collection_id=4982, user_id=user, page_size=2, page_token=token)
        )
        seen += [c.id for c in page.carts]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    assert pages == 3


def test_patch_update_cart_changes_only_the_masked_fields(stub: CartServiceStub) -> None:
    created = create_cart(stub)
    patched = stub.PatchUpdateCart(
        pb.PatchUpdateCartRequest(
            cart_id=created.id, cart=r.Cart(type="6000", accounts_id=99), update_mask=mask("type")
        )
    ).cart
    assert patched.type == "6000"
    assert patched.accounts_id == created.accounts_id == 10
    assert patched.updated_time >= created.updated_time
    assert get(stub, created.id).type == "6000"


def test_patch_update_cart_without_mask_changes_the_fields_that_are_set(
    stub: CartServiceStub,
) -> None:
    created = create_cart(stub)
    patched = stub.PatchUpdateCart(
        pb.PatchUpdateCartRequest(cart_id=created.id, cart=r.Cart(accounts_id=77))
    ).cart
    assert (patched.accounts_id, patched.type) == (77, created.type)


def test_delete_cart_answers_the_seed_receipt_and_removes_everything(stub: CartServiceStub) -> None:
    created = create_cart(stub)
    receipt = stub.DeleteCart(pb.DeleteCartRequest(cart_id=created.id))
    assert receipt.response_code == "PRCRDEL0000"
    assert receipt.response_message == "Cart deleted successfully."
    assert int(receipt.time_stamp) > 1_700_000_000_000
    with pytest.raises(Exception, match="NOT_FOUND"):
        get(stub, created.id)


def test_cart_address_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_address = from_seed(seed_payload("CreateCartAddress")["address"], r.Address)
    created = stub.CreateCartAddress(
        pb.CreateCartAddressRequest(cart_id=cart.id, address=seed_address)
    ).address
    assert created.id > 0 and created.address_version > 0
    assert (created.first_name, created.zip, created.email) == (
        "Lacota",
        "04455",
        "fiona.bray@hotmail.us",
    )

    patched = stub.PatchUpdateCartAddress(
        pb.PatchUpdateCartAddressRequest(
            cart_id=cart.id, address=r.Address(city="cBKMFSqd"), update_mask=mask("city")
        )
    ).address
    assert (patched.id, patched.city, patched.first_name) == (created.id, "cBKMFSqd", "Lacota")
    assert get(stub, cart.id).address == patched

    receipt = stub.DeleteCartAddress(pb.DeleteCartAddressRequest(cart_id=cart.id))
    assert receipt.response_code == "PRADDEL0000"
    assert not get(stub, cart.id).HasField("address")


def test_cart_item_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_item = from_seed(seed_payload("CreateCartItem")["items"][0], r.CartItem)
    created = stub.CreateCartItem(
        pb.CreateCartItemRequest(cart_id=cart.id, items=[seed_item])
    ).items
    assert len(created) == 1 and created[0].id > 0
    assert created[0].address.address_line1 == "The White House"
    assert created[0].shipping.id > 0 and created[0].skus[0].id > 0

    patched = stub.PatchUpdateCartItem(
        pb.PatchUpdateCartItemRequest(
            cart_id=cart.id,
            item_id=created[0].id,
            item=r.CartItem(quantity=2),
            update_mask=mask("quantity"),
        )
    ).items
    assert (patched[0].quantity, decimals(patched[0].quantity_v2)) == (2, Decimal(2))
    assert patched[0].address == created[0].address

    receipt = stub.DeleteCartItem(pb.DeleteCartItemRequest(cart_id=cart.id, item_id=created[0].id))
    assert receipt.response_code == "PRITDEL0000"
    assert [i.id for i in get(stub, cart.id).items] == [cart.items[0].id]


def test_item_properties_update_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    item_id = cart.items[0].id
    replaced = stub.UpdateCartItemProperties(
        pb.UpdateCartItemPropertiesRequest(
            cart_id=cart.id,
            item_id=item_id,
            item_properties=seed_payload("UpdateCartItemProperties")["itemPropertiesList"],
        )
    ).item_properties_list
    assert dict(replaced) == {"Cloths": "Cotton", "NewArrivals": "Pants"}

    merged = stub.PatchUpdateCartItemProperties(
        pb.PatchUpdateCartItemPropertiesRequest(
            cart_id=cart.id, item_id=item_id, item_properties={"additionalProp1": "shirts"}
        )
    ).item_properties_list
    assert dict(merged) == {"Cloths": "Cotton", "NewArrivals": "Pants", "additionalProp1": "shirts"}

    receipt = stub.DeleteCartItemProperties(
        pb.DeleteCartItemPropertiesRequest(cart_id=cart.id, item_id=item_id, keys=["Cloths"])
    )
    assert receipt.response_code == "PRIPDEL0000"
    assert dict(get(stub, cart.id).items[0].custom_properties) == {
        "NewArrivals": "Pants",
        "additionalProp1": "shirts",
    }
    stub.DeleteCartItemProperties(
        pb.DeleteCartItemPropertiesRequest(cart_id=cart.id, item_id=item_id)
    )
    assert dict(get(stub, cart.id).items[0].custom_properties) == {}


def test_cart_properties_create_update_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    created = stub.CreateCartProperties(
        pb.CreateCartPropertiesRequest(
            cart_id=cart.id, cart_properties={"CATEGORY": "Lenova", "BRAND ": "Laptops"}
        )
    ).cart_properties_list
    assert dict(created) == seed_payload("CreateCartProperties")["cartPropertiesList"]

    patched = stub.PatchUpdateCartProperties(
        pb.PatchUpdateCartPropertiesRequest(
            cart_id=cart.id, cart_properties={"additionalProp1": "SonataWatch"}
        )
    ).cart_properties_list
    assert patched["additionalProp1"] == "SonataWatch" and patched["CATEGORY"] == "Lenova"

    replaced = stub.UpdateCartProperties(
        pb.UpdateCartPropertiesRequest(
            cart_id=cart.id,
            cart_properties=seed_payload("UpdateCartProperties")["cartPropertiesList"],
        )
    ).cart_properties_list
    assert dict(replaced) == {"CATEGORY": "Lenova", "BRAND ": "Laptops"}

    receipt = stub.DeleteCartProperties(pb.DeleteCartPropertiesRequest(cart_id=cart.id))
    assert receipt.response_code == "PRCPDEL0000"
    assert dict(get(stub, cart.id).custom_properties) == {}


def test_cart_shipping_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    stub.DeleteCartShipping(pb.DeleteCartShippingRequest(cart_id=cart.id))
    seed_shipping = from_seed(seed_payload("CreateCartShipping")["shipping"], r.Shipping)
    created = stub.CreateCartShipping(
        pb.CreateCartShippingRequest(cart_id=cart.id, shipping=seed_shipping)
    ).shipping
    assert created.id > 0 and created.selected_method == "STANDARD DELIVERY"

    patched = stub.PatchUpdateCartShipping(
        pb.PatchUpdateCartShippingRequest(
            cart_id=cart.id, shipping=r.Shipping(delivery_instructions="ring twice")
        )
    ).shipping
    assert (patched.id, patched.delivery_instructions, patched.type) == (
        created.id,
        "ring twice",
        "PHYSICAL",
    )

    receipt = stub.DeleteCartShipping(pb.DeleteCartShippingRequest(cart_id=cart.id))
    assert (receipt.response_code, receipt.response_message) == (
        "PRSHDEL0000",
        "Cart Shipping Deleted successfully.",
    )
    assert not get(stub, cart.id).HasField("shipping")


def test_other_charges_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_charge = from_seed(seed_payload("CreateOtherCharges")["otherCharges"][0], r.OtherCharge)
    created = stub.CreateOtherCharges(
        pb.CreateOtherChargesRequest(cart_id=cart.id, other_charges=[seed_charge])
    ).other_charges[0]
    assert created.id > 0 and created.cart_id == cart.id and created.item_id == 0
    assert created.charge_type == r.CHARGE_TYPE_PERCENTAGE and created.type == r.CHARGE_LEVEL_CART
    assert not created.HasField("updated_by")

    patched = stub.PatchUpdateOtherCharges(
        pb.PatchUpdateOtherChargesRequest(
            cart_id=cart.id,
            other_charge_id=created.id,
            other_charge=r.OtherCharge(charge_value=D(value="110.0")),
            update_mask=mask("charge_value"),
        )
    ).other_charges[0]
    assert decimals(patched.charge_value) == Decimal(110)
    assert patched.updated_by == "1" and patched.name == "deductshipping"

    receipt = stub.DeleteOtherCharges(
        pb.DeleteOtherChargesRequest(cart_id=cart.id, other_charge_id=created.id)
    )
    assert receipt.response_code == "PROCDEL0000"
    assert len(get(stub, cart.id).other_charges) == 0


def test_payment_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_payment = from_seed(seed_payload("CreatePayment")["payment"][0], r.Payment)
    seed_payment.currency = "USD"
    created = stub.CreatePayment(
        pb.CreatePaymentRequest(cart_id=cart.id, payments=[seed_payment])
    ).payment
    assert created[0].id > 0 and decimals(created[0].amount) == Decimal("37.94")

    patched = stub.PatchUpdateCartPayment(
        pb.PatchUpdateCartPaymentRequest(
            cart_id=cart.id,
            cart_payment_id=created[0].id,
            payment=r.Payment(amount=D(value="0")),
            update_mask=mask("amount"),
        )
    ).payment
    assert decimals(patched[0].amount) == Decimal(0) and patched[0].payment_id == "107573"

    receipt = stub.DeleteCartPayment(
        pb.DeleteCartPaymentRequest(cart_id=cart.id, cart_payment_id=created[0].id)
    )
    assert receipt.response_code == "PRPYDEL0000"
    assert [p.id for p in get(stub, cart.id).payments] == [cart.payments[0].id]


def test_promotion_create_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_promotion = from_seed(seed_payload("CreatePromotion")["promotion"][0], r.Promotion)
    created = stub.CreatePromotion(
        pb.CreatePromotionRequest(cart_id=cart.id, promotions=[seed_promotion])
    ).promotion
    assert [(p.promo_code, p.name, p.created_by) for p in created] == [
        ("Jordan", "Test Promotion", "1")
    ]

    receipt = stub.DeletePromotion(pb.DeletePromotionRequest(cart_id=cart.id, promo_code="Jordan"))
    assert receipt.response_code == "PRPRDEL0000"
    assert [p.promo_code for p in get(stub, cart.id).promotions] == ["qlDDE3t2hY"]


def test_communication_preference_update_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_preference = from_seed(
        seed_payload("UpdateCommunicationPreference")["communicationPreference"],
        r.CommunicationPreference,
    )
    updated = stub.UpdateCommunicationPreference(
        pb.UpdateCommunicationPreferenceRequest(
            cart_id=cart.id, communication_preference=seed_preference
        )
    ).communication_preference
    assert updated == seed_preference
    assert get(stub, cart.id).communication_preference == seed_preference

    receipt = stub.DeleteCommunicationPreference(
        pb.DeleteCommunicationPreferenceRequest(cart_id=cart.id)
    )
    assert receipt.response_code == "PRC1DEL0000"
    assert not get(stub, cart.id).HasField("communication_preference")
    again = stub.UpdateCommunicationPreference(
        pb.UpdateCommunicationPreferenceRequest(
            cart_id=cart.id, communication_preference=seed_preference
        )
    )
    assert again.communication_preference == seed_preference


def test_loyalty_rewards_create_patch_delete(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    seed_reward = from_seed(
        seed_payload("CreateLoyaltyRewards")["loyaltyDetails"][0], r.LoyaltyDetail
    )
    created = stub.CreateLoyaltyRewards(
        pb.CreateLoyaltyRewardsRequest(cart_id=cart.id, loyalty_details=[seed_reward])
    ).loyalty_details[0]
    assert created.id > 0 and decimals(created.value) == Decimal("14.21")

    patched = stub.PatchUpdateLoyaltyRewards(
        pb.PatchUpdateLoyaltyRewardsRequest(
            cart_id=cart.id,
            loyalty_detail_id=created.id,
            loyalty_detail=r.LoyaltyDetail(value=D(value="208.58"), points=D(value="208.58")),
        )
    ).loyalty_details[0]
    assert decimals(patched.points) == Decimal("208.58") and patched.type == "LIVNJFGQZ"

    receipt = stub.DeleteLoyaltyRewards(
        pb.DeleteLoyaltyRewardsRequest(cart_id=cart.id, loyalty_detail_id=created.id)
    )
    assert receipt.response_code == "PRLYDEL0000"
    assert len(get(stub, cart.id).loyalty_details) == 0


def test_cart_calculation_prices_items_charges_loyalty_and_payments(stub: CartServiceStub) -> None:
    sku = r.Sku(
        sku_id="210001110", product_id="110001", bundle_sku_type="DEFAULT", price=D(value="10.48")
    )
    cart = stub.CreateCart(
        pb.CreateCartRequest(
            cart=r.Cart(
                type="user",
                items=[r.CartItem(quantity=3, skus=[sku])],
                payments=[r.Payment(amount=D(value="5.00"), currency="USD")],
                loyalty_details=[r.LoyaltyDetail(value=D(value="1.44"))],
            )
        ),
        metadata=on_behalf_of("4523", collection_id=4990),
    ).carts[0]
    stub.CreateOtherCharges(
        pb.CreateOtherChargesRequest(
            cart_id=cart.id,
            other_charges=[
                r.OtherCharge(
                    name="handling", type=r.CHARGE_LEVEL_CART, charge_type=r.CHARGE_TYPE_PERCENTAGE,
                    charge_value=D(value="10"),
                ),
                r.OtherCharge(
                    name="gift wrap", type=r.CHARGE_LEVEL_ITEM, item_id=cart.items[0].id,
                    charge_type=r.CHARGE_TYPE_FLAT, charge_value=D(value="0.50"),
                ),
            ],
        )
    )  # fmt: skip

    checkout = stub.CreateCartCalculation(
        pb.CreateCartCalculationRequest(cart_id=cart.id)
    ).cart_checkout

    line = checkout.items[0]
    assert decimals(line.unit_value.original_price) == Decimal("10.48")
    assert decimals(line.total_value.original_price) == Decimal("31.44")
    # The line's own 3 × 0.50 gift wrap, and its share of the cart's handling (all of it).
    assert decimals(line.total_value.other_charges) == Decimal("4.50")
    value = decimals(checkout.value)
    assert value["originalPrice"] == Decimal("31.44")
    assert value["loyaltyDiscount"] == Decimal("1.44")
    assert value["priceAfterDiscount"] == Decimal("30.00")
    # 10 % of the price after discount, 30.00 = 3.00; plus 3 × 0.50 gift wrap.
    assert value["otherCharges"] == Decimal("4.50")
    assert value["grandTotal"] == Decimal("34.50")
    assert decimals(checkout.payment_value) == {
        "bagValue": Decimal("34.50"),
        "totalAmountPaid": Decimal("5.00"),
        "totalAmountUnpaid": Decimal("29.50"),
    }
    assert (checkout.cart_id, checkout.user_id, checkout.cart_type) == (
        str(cart.id),
        "4523",
        "user",
    )
