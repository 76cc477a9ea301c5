"""Builds the seed's example cart through the API, part by part, and reads it back equal."""

from __future__ import annotations

from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

from tests.seed_examples import decimals, from_seed, seed_payload

# Set by the server, so not compared with what the seed sent.
SERVER_SET = {
    "id", "status", "createdBy", "createdTime", "updatedBy", "updatedTime", "shippingVersion",
    "addressVersion", "cartId", "quantityV2",
}  # fmt: skip


def client_view(value: object) -> object:
    if isinstance(value, dict):
        return {k: client_view(v) for k, v in value.items() if k not in SERVER_SET}
    if isinstance(value, list):
        return [client_view(v) for v in value]
    return value


def real_shaped(payload: dict[str, object]) -> dict[str, object]:
    """The seed's swagger placeholders ("string") where an e-mail or phone must have its shape."""
    replacements = {"email": "shopper@example.com", "phone": "155-024-3777", "mobile": "9898787676"}
    return {
        key: real_shaped(value) if isinstance(value, dict)
        else replacements.get(key, value) if value == "string" else value
        for key, value in payload.items()
    }  # fmt: skip


def test_seed_cart_built_through_the_api_reads_back_equal(stub: CartServiceStub) -> None:
    seed = from_seed(real_shaped(seed_payload("PatchUpdateCart")["cart"]), r.Cart)
    address = from_seed(real_shaped(seed_payload("PatchUpdateCart")["cart"])["address"], r.Address)  # type: ignore[arg-type]
    seed.ClearField("address")
    cart = stub.CreateCart(pb.CreateCartRequest(cart=seed)).carts[0]
    cid = cart.id

    item = from_seed(seed_payload("CreateCartItem")["items"][0], r.CartItem)
    added_item = stub.CreateCartItem(pb.CreateCartItemRequest(cart_id=cid, items=[item])).items[0]
    added_address = stub.CreateCartAddress(
        pb.CreateCartAddressRequest(cart_id=cid, address=address)
    ).address
    charge = from_seed(seed_payload("CreateOtherCharges")["otherCharges"][0], r.OtherCharge)
    added_charge = stub.CreateOtherCharges(
        pb.CreateOtherChargesRequest(cart_id=cid, other_charges=[charge])
    ).other_charges[0]
    reward = from_seed(seed_payload("CreateLoyaltyRewards")["loyaltyDetails"][0], r.LoyaltyDetail)
    added_reward = stub.CreateLoyaltyRewards(
        pb.CreateLoyaltyRewardsRequest(cart_id=cid, loyalty_details=[reward])
    ).loyalty_details[0]
    preference = from_seed(
        seed_payload("UpdateCommunicationPreference")["communicationPreference"],
        r.CommunicationPreference,
    )
    stub.UpdateCommunicationPreference(
        pb.UpdateCommunicationPreferenceRequest(cart_id=cid, communication_preference=preference)
    )
    properties = seed_payload("CreateCartProperties")["cartPropertiesList"]
    stub.PatchUpdateCartProperties(
        pb.PatchUpdateCartPropertiesRequest(cart_id=cid, cart_properties=properties)
    )

    stored = stub.GetCart(pb.GetCartRequest(cart_id=cid)).cart

    # Everything the API answered along the way is what is stored, ids included.
    assert list(stored.items) == [cart.items[0], added_item]
    assert stored.address == added_address
    assert list(stored.other_charges) == [added_charge]
    assert list(stored.loyalty_details) == [added_reward]
    assert list(stored.payments) == list(cart.payments)
    assert stored.shipping == cart.shipping
    # And what the seed sent is what is stored, amounts compared as exact decimals.
    expected = r.Cart()
    expected.CopyFrom(seed)
    expected.items.append(item)
    expected.address.CopyFrom(address)
    expected.other_charges.append(charge)
    expected.loyalty_details.append(reward)
    expected.communication_preference.CopyFrom(preference)
    expected.custom_properties.update(properties)
    assert client_view(decimals(stored)) == client_view(decimals(expected))
