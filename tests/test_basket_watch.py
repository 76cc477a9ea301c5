"""WatchBasket on real servers: the current state first, then every change in order, errors as
SomethingHappened, resuming with from_version, a slow watcher beside a fast one, and watchers
on one server process seeing changes made through another (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.catalog import add_product
from tests.identities import SERVER_FLAGS
from tests.servers import ServerProcess
from tests.watching import DEFAULT_METADATA, Watch, happened, updated

md = DEFAULT_METADATA
SMALL_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16384)]


def run(
    scenario: Callable[[grpc.aio.Channel, BasketServiceStub], Awaitable[None]], address: str
) -> None:
    async def main() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            await scenario(channel, BasketServiceStub(channel))

    asyncio.run(main())


async def new_basket(baskets: BasketServiceStub) -> str:
    basket_id = f"w-{uuid.uuid4()}"
    await baskets.CreateBasket(
        pb.CreateBasketRequest(basket_id=basket_id, sales_channel_id="web"), metadata=md
    )
    return basket_id


async def expect_error(call: Awaitable[Any], code: grpc.StatusCode) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    assert raised.value.code() is code


def test_seed_002_storefront_flow(server: ServerProcess) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        watch = Watch(channel, basket_id)
        first = await watch.next()
        assert first.basket_updated.stage == "Basket" and not first.basket_updated.items

        await baskets.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50), metadata=md
        )
        await watch.until(updated(quoted=["50.00"]))
        await baskets.ApplyPromoCode(
            pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code="SUMMER20"), metadata=md
        )
        promoted = await watch.until(updated(quoted=["45.00"]))
        assert promoted.basket_updated.promo_code == "SUMMER20"
        item = promoted.basket_updated.items[0]
        assert (item.product_name, item.retail_price.amount.value, item.retail_price.currency) == (
            "Gift Voucher - $50", "50.00", "USD",
        )  # fmt: skip

        await expect_error(
            baskets.ApplyPromoCode(
                pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code="NOPE"), metadata=md
            ),
            grpc.StatusCode.NOT_FOUND,
        )
        notice = await watch.until(happened("PromoCodeDoesntExist"))
        assert notice.something_happened.message

        await baskets.CreatePaymentIntent(
            pb.CreatePaymentIntentRequest(basket_id=basket_id), metadata=md
        )
        await baskets.CompleteBasket(
            pb.CompleteBasketRequest(basket_id=basket_id, payment_reference="pi_seed"), metadata=md
        )
        settled = await watch.until(updated(stage="Settled"))
        await expect_error(
            baskets.AddItem(
                pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50), metadata=md
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
        processed = await watch.until(happened("OrderWasProcessed"))
        assert processed.version == settled.version
        watch.cancel()

    run(scenario, server.address)


def test_from_version_resumes_after_what_the_client_saw(server: ServerProcess) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        product = add_product(server.database_url)
        added = await baskets.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=product), metadata=md
        )
        seen = added.basket.version
        # Up to date: nothing is sent until the next change.
        resumed = Watch(channel, basket_id, from_version=seen)
        await baskets.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=product), metadata=md
        )
        first = await resumed.next()
        assert first.version > seen and len(first.basket_updated.items) == 2
        # Behind: the current state at once.
        behind = Watch(channel, basket_id, from_version=1)
        assert (await behind.next()).version == first.version
        resumed.cancel()
        behind.cancel()

    run(scenario, server.address)


def test_watching_an_unknown_basket_is_not_found(server: ServerProcess) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        watch = Watch(channel, "no-such-basket")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await watch.next()
        assert raised.value.code() is grpc.StatusCode.NOT_FOUND

    run(scenario, server.address)


def test_bad_watch_requests_get_a_clear_status_with_details(server: ServerProcess) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    async def first_error(call: Any) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call.read()
        return raised.value

    def violations(error: grpc.aio.AioRpcError) -> list[str]:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        assert status is not None
        request = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(request)
        return [violation.field for violation in request.field_violations]

    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        invalid = await first_error(
            baskets.WatchBasket(pb.WatchBasketRequest(basket_id="", from_version=-1), metadata=md)
        )
        assert invalid.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert sorted(violations(invalid)) == ["basket_id", "from_version"]
        raw = channel.unary_stream(
            "/cartservice.basket.v1.BasketService/WatchBasket",
            request_serializer=lambda b: b,
            response_deserializer=pb.WatchBasketResponse.FromString,
        )
        undecodable = await first_error(raw(b"\xff\xff\xff", metadata=md))
        assert undecodable.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert undecodable.details() == "request is not valid protobuf"
        anonymous = await first_error(baskets.WatchBasket(pb.WatchBasketRequest(basket_id="b")))
        assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED

    run(scenario, server.address)


def test_deleting_the_basket_tells_watchers_and_ends_the_stream(server: ServerProcess) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        watch = Watch(channel, basket_id)
        await watch.next()
        await baskets.DeleteBasket(pb.DeleteBasketRequest(basket_id=basket_id), metadata=md)
        await watch.until(happened("BasketDeleted"))
        assert await watch.call.read() is grpc.aio.EOF
        assert await watch.call.code() is grpc.StatusCode.OK

    run(scenario, server.address)


def test_a_slow_watcher_never_holds_back_a_fast_one(server: ServerProcess) -> None:
    changes = 120

    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        # Big snapshots (40 lines, some 6 KB each) fill the slow stream's flow-control window.
        await baskets.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50, quantity=20),
            metadata=md,
        )
        await baskets.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50, quantity=20),
            metadata=md,
        )
        fast, slow = Watch(channel, basket_id), Watch(channel, basket_id)
        start = (await fast.next()).version
        await slow.next()  # subscribed; from now on it reads nothing until the end
        for n in range(changes):
            code = "WELCOME10" if n % 2 == 0 else "SUMMER20"
            last = await baskets.ApplyPromoCode(
                pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code=code), metadata=md
            )
        final = last.basket.version
        await fast.until(lambda m: m.version == final, seconds=10)
        # The slow one gets the latest state, with versions skipped but never reordered.
        await slow.until(lambda m: m.version == final, seconds=20)
        versions = [m.version for m in slow.updates()]
        assert versions == sorted(set(versions))
        assert len(versions) < final - start, "nothing was coalesced"
        fast.cancel()
        slow.cancel()

    run(scenario, server.address)


def test_concurrent_adds_to_one_basket_lose_no_item(server: ServerProcess) -> None:
    writers = 30

    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        product = add_product(server.database_url, stock=1000)
        results = await asyncio.gather(
            *(
                baskets.AddItem(
                    pb.AddItemRequest(basket_id=basket_id, product_id=product), metadata=md
                )
                for _ in range(writers)
            )
        )
        basket = (
            await baskets.GetBasket(pb.GetBasketRequest(basket_id=basket_id), metadata=md)
        ).basket
        added = {line for result in results for line in result.added_line_item_ids}
        assert len(added) == writers
        assert {item.line_item_id for item in basket.items} == added

    run(scenario, server.address)


def test_the_last_unit_goes_to_exactly_one_of_two_racing_baskets(server: ServerProcess) -> None:
    async def race(baskets: BasketServiceStub) -> None:
        product = add_product(server.database_url, stock=1)
        contenders = [await new_basket(baskets) for _ in range(2)]
        for basket_id in contenders:
            await baskets.AddItem(
                pb.AddItemRequest(basket_id=basket_id, product_id=product), metadata=md
            )
        outcomes = await asyncio.gather(
            *(
                baskets.CreatePaymentIntent(
                    pb.CreatePaymentIntentRequest(basket_id=basket_id), metadata=md
                )
                for basket_id in contenders
            ),
            return_exceptions=True,
        )
        won = [o for o in outcomes if isinstance(o, pb.CreatePaymentIntentResponse)]
        lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert lost[0].code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "fewer than 1 left" in (lost[0].details() or "")

    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        for _ in range(10):
            await race(baskets)

    run(scenario, server.address)


# ---- several server processes on one PostgreSQL ----


@pytest.fixture(scope="module")
def two_servers(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir: Path = tmp_path_factory.mktemp("two-servers")
    first = ServerProcess.start(workdir / "a", database_url=postgres_url, extra=SERVER_FLAGS)
    second = ServerProcess.start(workdir / "b", database_url=postgres_url, extra=SERVER_FLAGS)
    yield first, second
    first.stop()
    second.stop()


def test_a_watcher_on_one_process_sees_changes_made_through_another(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = two_servers

    async def main() -> None:
        async with (
            grpc.aio.insecure_channel(first.address) as a,
            grpc.aio.insecure_channel(second.address) as b,
        ):
            through_a, through_b = BasketServiceStub(a), BasketServiceStub(b)
            basket_id = await new_basket(through_a)
            on_a, on_b = Watch(a, basket_id), Watch(b, basket_id)
            await on_a.next()
            await on_b.next()
            await through_b.AddItem(
                pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50), metadata=md
            )
            await on_a.until(updated(lines=1))
            await through_a.ApplyPromoCode(
                pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code="SUMMER20"), metadata=md
            )
            await on_b.until(updated(promo_code="SUMMER20", quoted=["45.00"]))
            # Errors reach the other process's watchers too.
            await expect_error(
                through_b.ApplyPromoCode(
                    pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code="NOPE"), metadata=md
                ),
                grpc.StatusCode.NOT_FOUND,
            )
            await on_a.until(happened("PromoCodeDoesntExist"))
            on_a.cancel()
            on_b.cancel()

    asyncio.run(main())


# ---- stalled watchers and shutdown ----


@pytest.fixture()
def impatient_server(tmp_path: Path) -> Any:
    process = ServerProcess.start(
        tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'impatient.db'}",
        extra=(*SERVER_FLAGS, "--watch-stall-seconds", "1"),
    )
    yield process
    process.stop()


def test_a_stalled_watcher_is_ended_with_unavailable_and_told_where_to_resume(
    impatient_server: ServerProcess,
) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        for _ in range(2):
            await baskets.AddItem(
                pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50, quantity=20),
                metadata=md,
            )
        # A client that reads nothing, with a 16 KB window (like a phone on a bad network).
        async with grpc.aio.insecure_channel(
            impatient_server.address, options=SMALL_WINDOW
        ) as slow:
            stalled, healthy = Watch(slow, basket_id), Watch(channel, basket_id)
            await stalled.next()
            await healthy.next()
            for n in range(80):  # ~400 KB of snapshots: far beyond any window it has
                code = "WELCOME10" if n % 2 == 0 else "SUMMER20"
                last = await baskets.ApplyPromoCode(
                    pb.ApplyPromoCodeRequest(basket_id=basket_id, promo_code=code), metadata=md
                )
            await healthy.until(lambda m: m.version == last.basket.version)
            await asyncio.sleep(2.5)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                while True:
                    await stalled.next()
        # UNAVAILABLE with the version to resume from; CANCELLED when grpc-core cannot send a
        # status behind the withdrawn write (docs/decisions.md), and the client resumes from
        # the last version it read.
        code = raised.value.code()
        assert code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        if code is grpc.StatusCode.UNAVAILABLE:
            resume_from = int((raised.value.details() or "").rsplit("from_version=", 1)[1])
            # Resuming from there loses nothing (a message in flight may be newer than it).
            assert 0 < resume_from <= stalled.updates()[-1].version <= last.basket.version
        healthy.cancel()

    run(scenario, impatient_server.address)


def test_shutdown_ends_open_watches_with_unavailable(impatient_server: ServerProcess) -> None:
    async def scenario(channel: grpc.aio.Channel, baskets: BasketServiceStub) -> None:
        basket_id = await new_basket(baskets)
        watch = Watch(channel, basket_id)
        await watch.next()
        impatient_server.process.terminate()
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await watch.next()
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE

    run(scenario, impatient_server.address)
    assert impatient_server.process.wait(15) == 0


def test_a_watcher_wakes_for_an_offer_or_its_end_and_keeps_only_the_newest_snapshot() -> None:
    from server.watch.basket_feed import Watcher

    def snapshot(version: int) -> pb.WatchBasketResponse:
        return pb.WatchBasketResponse(version=version, basket_updated={})

    async def scenario() -> None:
        watcher = Watcher(from_version=1)
        waiting = watcher.wakeup()
        assert watcher.pop() is None and not waiting.done()
        watcher.offer_snapshot(snapshot(1), 1)  # not newer than the client's version
        assert not waiting.done()
        watcher.offer_snapshot(snapshot(2), 2)
        watcher.offer_snapshot(snapshot(3), 3)  # replaces 2: versions skipped, never reordered
        await asyncio.wait_for(waiting, 1)
        assert [watcher.pop().version, watcher.pop()] == [3, None]  # type: ignore[union-attr]
        watcher.offer_snapshot(snapshot(4), 4)
        assert watcher.wakeup().done()  # a message already waits: no sleep
        assert watcher.pop().version == 4  # type: ignore[union-attr]
        waiting = watcher.wakeup()
        watcher.end(False, "server shutting down")
        await asyncio.wait_for(waiting, 1)
        assert watcher.pop() is None and watcher.ending is not None
        assert watcher.wakeup().done()  # an ended watcher never sleeps again

    asyncio.run(scenario())


def test_a_watcher_keeps_notices_in_order_beside_the_newest_snapshot_and_ends_when_flooded() -> (
    None
):
    from server.watch.basket_feed import MAX_QUEUED_NOTICES, Watcher

    def notice(code: str) -> pb.WatchBasketResponse:
        return pb.WatchBasketResponse(something_happened={"error_code": code})

    async def scenario() -> None:
        watcher = Watcher(from_version=0)
        watcher.offer_notice(notice("UnavailableProduct"))
        watcher.offer_snapshot(pb.WatchBasketResponse(version=1, basket_updated={}), 1)
        watcher.offer_notice(notice("OrderWasProcessed"))
        watcher.offer_snapshot(pb.WatchBasketResponse(version=2, basket_updated={}), 2)
        sent = []
        while (message := watcher.pop()) is not None:
            sent.append(message.something_happened.error_code or message.version)
        assert sent == ["UnavailableProduct", "OrderWasProcessed", 2]
        for _ in range(MAX_QUEUED_NOTICES + 2):
            watcher.offer_notice(notice("PromoCodeDoesntExist"))
        assert watcher.ending is not None and not watcher.ending.ok
        assert watcher.wakeup().done()

    asyncio.run(scenario())
