"""Creates a cart through the generated stubs. The token decides whose cart it is."""

import os

import grpc
from cartservice.cart.v1 import cart_pb2, cart_service_pb2, cart_service_pb2_grpc
from cartservice.type.v1.decimal_pb2 import Decimal

address = os.environ.get("CARTSERVICE_ADDRESS", "127.0.0.1:50051")
# TOKEN=$(cartservice token --user-id 1 --collection-id 4982 --roles ROLE_USER)
token = os.environ["TOKEN"]

with grpc.insecure_channel(address) as channel:
    stub = cart_service_pb2_grpc.CartServiceStub(channel)
    request = cart_service_pb2.CreateCartRequest(
        cart=cart_pb2.Cart(
            items=[
                cart_pb2.CartItem(
                    quantity=2, skus=[cart_pb2.Sku(sku_id="sku_001", price=Decimal(value="10.48"))]
                )
            ]
        )
    )
    response = stub.CreateCart(request, metadata=[("authorization", f"Bearer {token}")], timeout=5)

cart = response.carts[0]
print(f"cart {cart.id} of user {cart.user_id}: {cart.items[0].skus[0].price.value} x 2")
