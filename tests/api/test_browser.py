"""The browser endpoint over real HTTP (a server process with --browser-port): the Connect
protocol in JSON and in protobuf, gRPC-Web, a WatchBasket stream, the gRPC status and details
of errors, and CORS."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from google.rpc import error_details_pb2

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.identities import as_caller, token
from tests.servers import ServerProcess
from tests.support import free_port

PAGE_ORIGIN = "http://127.0.0.1:8080"
BASKETS = "/cartservice.basket.v1.BasketService"
BROWSER_PORT = re.compile(r"browser endpoint on http://[\d.]+:(\d+)")


class Browser:
    """What a page's fetch() sends: HTTP/1.1 to the browser port."""

    def __init__(self, port: int) -> None:
        self.port = port

    def post(
        self, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(
                "POST", path, body, {"content-type": content_type, **(headers or {})}
            )
            response = connection.getresponse()
            answer = {k.lower(): v for k, v in response.getheaders()}
            return response.status, answer, response.read()
        finally:
            connection.close()

    def connect(
        self, method: str, message: dict[str, Any], *, bearer: str | None = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        sent = dict(headers)
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        status, answer, body = self.post(
            f"{BASKETS}/{method}", json.dumps(message).encode(), "application/json", sent
        )
        return status, answer, json.loads(body)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("browser")
    process = ServerProcess.on_own_sqlite(
        workdir,
        "--browser-port",
        str(free_port()),
        "--cors-origins",
        f"{PAGE_ORIGIN}, http://shop.test",
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(server: ServerProcess) -> Browser:
    found = BROWSER_PORT.search(server.log())
    assert found, server.log()
    return Browser(int(found.group(1)))


def new_basket(browser: Browser) -> str:
    basket_id = f"b-{uuid.uuid4()}"
    status, _, _ = browser.connect(
        "CreateBasket", {"basketId": basket_id, "salesChannelId": "web"}, bearer=token()
    )
    assert status == 200
    return basket_id


def test_a_connect_json_call_runs_the_service_and_answers_the_basket_in_json_names(
    browser: Browser,
) -> None:
    basket_id = new_basket(browser)

    status, headers, body = browser.connect(
        "AddItem", {"basketId": basket_id, "productId": GIFT_VOUCHER_50}, bearer=token()
    )

    assert (status, headers["content-type"]) == (200, "application/json")
    line = body["basket"]["items"][0]
    assert line["productName"] == "Gift Voucher - $50"
    assert line["retailPrice"] == {"amount": {"value": "50.00"}, "currency": "USD"}
    assert body["addedLineItemIds"] == [line["lineItemId"]]


def test_a_connect_call_in_protobuf_bytes_gets_protobuf_bytes(browser: Browser) -> None:
    request = pb.ListProductsRequest(page_size=1).SerializeToString()

    status, headers, body = browser.post(
        f"{BASKETS}/ListProducts", request, "application/proto",
        {"authorization": f"Bearer {token()}"},
    )  # fmt: skip

    assert (status, headers["content-type"]) == (200, "application/proto")
    page = pb.ListProductsResponse.FromString(body)
    assert len(page.products) == 1 and page.next_page_token


def test_a_read_without_side_effects_may_be_a_get_and_a_change_may_not(
    browser: Browser,
) -> None:
    status, content_type, body = _get(browser, "ListProducts", {"pageSize": 1})
    refused, _, _ = _get(browser, "AddItem", {"basketId": "b-1", "productId": "x"})

    assert (status, content_type) == (200, "application/json")
    assert len(json.loads(body)["products"]) == 1
    assert refused == 405


def _get(browser: Browser, method: str, message: dict[str, Any]) -> tuple[int, str, bytes]:
    query = urllib.parse.urlencode(
        {"connect": "v1", "encoding": "json", "message": json.dumps(message)}
    )
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=10)
    try:
        connection.request(
            "GET", f"{BASKETS}/{method}?{query}", headers={"authorization": f"Bearer {token()}"}
        )
        response = connection.getresponse()
        return response.status, response.getheader("content-type", ""), response.read()
    finally:
        connection.close()


def test_a_call_without_a_token_is_unauthenticated(browser: Browser) -> None:
    status, _, body = browser.connect("GetBasket", {"basketId": "b-1"})

    assert (status, body["code"]) == (401, "unauthenticated")
    assert "Bearer" in body["message"]


def test_errors_carry_the_grpc_code_and_the_google_rpc_details(browser: Browser) -> None:
    basket_id = new_basket(browser)

    status, _, invalid = browser.connect("GetBasket", {"basketId": "no spaces"}, bearer=token())
    _, _, unknown = browser.connect(
        "ApplyPromoCode", {"basketId": basket_id, "promoCode": "NOPE"}, bearer=token()
    )

    assert (status, invalid["code"]) == (400, "invalid_argument")
    bad_request = error_details_pb2.BadRequest.FromString(_detail(invalid, "google.rpc.BadRequest"))
    assert [v.field for v in bad_request.field_violations] == ["basket_id"]
    info = error_details_pb2.ErrorInfo.FromString(_detail(unknown, "google.rpc.ErrorInfo"))
    assert (unknown["code"], info.reason) == ("not_found", "PromoCodeDoesntExist")


def test_a_body_that_is_not_the_message_is_invalid_argument(browser: Browser) -> None:
    for body, content_type in (
        (b'{"basketId": ', "application/json"),
        (b"\x0a\xff", "application/proto"),
    ):
        status, _, answer = browser.post(
            f"{BASKETS}/GetBasket", body, content_type, {"authorization": f"Bearer {token()}"}
        )
        assert status == 400, answer
        assert json.loads(answer)["code"] == "invalid_argument"


def test_a_json_field_this_server_does_not_know_is_ignored(browser: Browser) -> None:
    status, _, body = browser.connect(
        "ListProducts", {"pageSize": 1, "fieldOfTomorrow": True}, bearer=token()
    )

    assert status == 200 and len(body["products"]) == 1


def test_grpc_web_frames_the_answer_and_ends_with_its_status_in_a_trailer_frame(
    browser: Browser,
) -> None:
    request = pb.ListProductsRequest(page_size=2).SerializeToString()

    status, headers, body = browser.post(
        f"{BASKETS}/ListProducts", _frame(0, request), "application/grpc-web+proto",
        {"authorization": f"Bearer {token()}", "x-grpc-web": "1"},
    )  # fmt: skip

    frames = list(_frames(body))
    assert (status, headers["content-type"]) == (200, "application/grpc-web+proto")
    assert [flag for flag, _ in frames] == [0, 0x80]
    assert len(pb.ListProductsResponse.FromString(frames[0][1]).products) == 2
    assert b"grpc-status: 0" in frames[1][1]


def test_grpc_web_errors_end_with_the_status_and_its_details(browser: Browser) -> None:
    request = pb.GetBasketRequest(basket_id=f"b-{uuid.uuid4()}").SerializeToString()

    _, _, body = browser.post(
        f"{BASKETS}/GetBasket", _frame(0, request), "application/grpc-web+proto",
        {"authorization": f"Bearer {token()}"},
    )  # fmt: skip

    trailers = dict(_trailers(list(_frames(body))[-1][1]))
    assert trailers["grpc-status"] == str(grpc.StatusCode.NOT_FOUND.value[0])
    assert "grpc-status-details-bin" in trailers


def test_a_watch_streams_the_basket_and_then_a_change_made_by_a_grpc_client(
    browser: Browser, server: ServerProcess
) -> None:
    basket_id = new_basket(browser)
    seen: list[dict[str, Any]] = []
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=10)
    connection.request(
        "POST", f"{BASKETS}/WatchBasket", _frame(0, json.dumps({"basketId": basket_id}).encode()),
        {"content-type": "application/connect+json", "authorization": f"Bearer {token()}"},
    )  # fmt: skip
    response = connection.getresponse()
    reader = threading.Thread(target=_read_envelopes, args=(response, seen, 2))
    reader.start()
    _wait_for(lambda: len(seen) >= 1)
    with grpc.insecure_channel(server.address) as channel:
        request = pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50)
        BasketServiceStub(channel).AddItem(request, metadata=as_caller(), timeout=10)
    reader.join(10)
    connection.close()

    assert response.status == 200
    assert [len(m["basketUpdated"].get("items", [])) for m in seen] == [0, 1]
    assert [int(m["version"]) for m in seen] == [1, 2]


def test_a_preflight_of_a_listed_origin_allows_the_connect_headers(browser: Browser) -> None:
    status, headers = _preflight(browser, PAGE_ORIGIN)

    assert status == 204
    assert headers["access-control-allow-origin"] == PAGE_ORIGIN
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "connect-protocol-version", "x-grpc-web"} <= allowed
    assert "POST" in headers["access-control-allow-methods"]


def test_another_origin_is_refused_its_preflight_and_gets_no_cors_headers(
    browser: Browser,
) -> None:
    status, _ = _preflight(browser, "http://evil.test")
    _, listed, _ = browser.connect("ListProducts", {}, bearer=token(), origin="http://shop.test")
    _, other, _ = browser.connect("ListProducts", {}, bearer=token(), origin="http://evil.test")

    assert status == 403
    assert listed["access-control-allow-origin"] == "http://shop.test"
    assert "grpc-status-details-bin" in listed["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other


def test_a_browser_port_in_use_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="server exited at start") as raised:
            ServerProcess.on_own_sqlite(tmp_path, "--browser-port", str(port))

    assert f"--browser-port {port} on 127.0.0.1: Address already in use" in str(raised.value)


# ---- framing of the Connect streaming and gRPC-Web bodies ----


def _frame(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def _frames(body: bytes) -> Iterator[tuple[int, bytes]]:
    while body:
        flags, length = struct.unpack(">BI", body[:5])
        yield flags, body[5 : 5 + length]
        body = body[5 + length :]


def _trailers(block: bytes) -> Iterator[tuple[str, str]]:
    for line in block.decode().split("\r\n"):
        if line:
            name, _, value = line.partition(":")
            yield name.strip().lower(), value.strip()


def _read_envelopes(response: http.client.HTTPResponse, into: list[Any], count: int) -> None:
    while len(into) < count:
        flags, length = struct.unpack(">BI", response.read(5))
        message = json.loads(response.read(length))
        if flags & 0x02:  # end of stream: an error where there should be updates
            raise AssertionError(message)
        into.append(message)


def _wait_for(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _preflight(browser: Browser, origin: str) -> tuple[int, dict[str, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=10)
    try:
        connection.request(
            "OPTIONS", f"{BASKETS}/AddItem",
            headers={
                "origin": origin, "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )  # fmt: skip
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def _detail(error: dict[str, Any], type_name: str) -> bytes:
    for detail in error.get("details", ()):
        if detail["type"] == type_name:
            value: str = detail["value"]
            return base64.b64decode(value + "=" * (-len(value) % 4))
    raise AssertionError(f"no {type_name} in {error}")
