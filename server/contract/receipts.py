"""The seed's answer to each delete (seed 003): a response code, a message and the time."""

from __future__ import annotations

from typing import TypeVar

from cartservice.cart.v1 import cart_service_pb2 as pb
from google.protobuf.message import Message

R = TypeVar("R", bound=Message)

RECEIPTS: dict[type[Message], tuple[str, str]] = {
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


def receipt(response_type: type[R], now_ms: int) -> R:
    code, message = RECEIPTS[response_type]
    return response_type(response_code=code, response_message=message, time_stamp=str(now_ms))
