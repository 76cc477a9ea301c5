"""A storefront's basket through cartservice_client: typed errors, and a watch that resumes."""

import os
import threading

from cartservice.basket.v1 import basket_service_pb2 as basket
from cartservice_client import Client, PromoCodeDoesntExist

address = os.environ.get("CARTSERVICE_ADDRESS", "127.0.0.1:50051")
GIFT_VOUCHER = "f1e2d3c4-b5a6-7890-abcd-ef1234567890"  # in the demo catalog

# A callable token is asked again for every call, so it can refresh one about to expire.
with Client(address, token=lambda: os.environ["TOKEN"], timeout_s=5) as client:
    client.baskets.CreateBasket(basket.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"))
    updates = client.watch_basket("b-1")  # reconnects after UNAVAILABLE, from the last version
    print("version", next(updates).version)
    threading.Thread(
        target=client.baskets.AddItem,
        args=(basket.AddItemRequest(basket_id="b-1", product_id=GIFT_VOUCHER),),
    ).start()
    update = next(updates)
    print("version", update.version, "items", len(update.basket_updated.items))
    try:
        client.baskets.ApplyPromoCode(
            basket.ApplyPromoCodeRequest(basket_id="b-1", promo_code="NOPE")
        )
    except PromoCodeDoesntExist as error:
        print(error.reason, error.code.name)
