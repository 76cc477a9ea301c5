"""Group commit on PostgreSQL (server.store.group_commit): concurrent changes share a
transaction, a change whose cart moved since it read it runs again row-locked and loses nothing,
a change that fails fails alone, and reads of different rows share a round trip."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from server import metrics
from server.api.cart_servicer import CartServicer
from server.auth.identity import Identity, Role, bind_caller
from server.service.carts import CartHandlers
from server.store.driver import Database, Statement
from server.store.group_commit import GroupCommit
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.support import migrated_database

CALLER = Identity("1", 4982, frozenset({Role.USER}))
VERSION = Statement("SELECT version FROM carts WHERE id = :id")


def item(n: int) -> r.CartItem:
    return r.CartItem(quantity=1, skus=[r.Sku(sku_id=f"sku-{n}", price=D(value="10.48"))])


def quantity_patch(cart: r.Cart, quantity: int) -> pb.PatchUpdateCartItemRequest:
    return pb.PatchUpdateCartItemRequest(
        cart_id=cart.id, item_id=cart.items[0].id, item=r.CartItem(quantity=quantity),
        update_mask=field_mask_pb2.FieldMask(paths=["quantity"]),
    )  # fmt: skip


def on_postgres(
    postgres_url: str,
    scenario: Callable[[Database, CartServicer, UnitOfWorkFactory], Awaitable[Any]],
) -> Any:
    async def run() -> Any:
        database = await migrated_database(postgres_url, 10)
        units = UnitOfWorkFactory(database)
        bind_caller(CALLER)
        try:
            return await scenario(database, CartServicer(CartHandlers(units)), units)
        finally:
            await database.close()

    return asyncio.run(run())


async def new_carts(servicer: CartServicer, count: int) -> list[r.Cart]:
    create = pb.CreateCartRequest(cart=r.Cart(items=[item(0)]))
    return [(await servicer.CreateCart(create, None)).carts[0] for _ in range(count)]  # type: ignore[arg-type]


async def versions_of(database: Database, carts: list[r.Cart]) -> list[int]:
    async with database.connection() as connection:
        rows = [await connection.fetch_one(VERSION, {"id": cart.id}) for cart in carts]
    return [row["version"] for row in rows if row is not None]


def test_concurrent_changes_of_different_carts_commit_together(postgres_url: str) -> None:
    async def scenario(database: Database, servicer: CartServicer, _: Any) -> tuple[int, list[int]]:
        carts = await new_carts(servicer, 8)
        # Warm: the catalog of the carts' collection (other tests may have loaded one) cached.
        await servicer.PatchUpdateCartItem(quantity_patch(carts[0], 2), None)  # type: ignore[arg-type]
        heard: list[str] = []
        database.listener = heard.append
        await asyncio.gather(
            *(servicer.PatchUpdateCartItem(quantity_patch(c, 7), None) for c in carts)  # type: ignore[arg-type]
        )
        database.listener = None
        read = [(await servicer.GetCart(pb.GetCartRequest(cart_id=c.id), None)) for c in carts]  # type: ignore[arg-type]
        return heard.count("COMMIT"), [answer.cart.items[0].quantity for answer in read]

    commits, quantities = on_postgres(postgres_url, scenario)
    assert quantities == [7] * 8
    # The first change goes alone; those that were ready meanwhile share the next transaction.
    assert commits < 8, commits


def test_a_cart_changed_since_it_was_read_runs_again_locked_and_keeps_both_changes(
    postgres_url: str,
) -> None:
    """Another process's change commits between this change's read and its write: the version
    check refuses the write, and the change runs again on the cart as it now is."""

    async def scenario(database: Database, servicer: CartServicer, units: UnitOfWorkFactory) -> Any:
        (cart,) = await new_carts(servicer, 1)
        attempts: list[int] = []

        async def add_property(uow: UnitOfWork) -> None:
            loaded = await uow.carts.get(cart.id, for_update=True)
            attempts.append(loaded.version)
            if len(attempts) == 1:  # meanwhile, elsewhere: a change that holds the row lock
                await servicer.PatchUpdateCartItem(quantity_patch(cart, 5), None)  # type: ignore[arg-type]
            loaded.custom_properties["gift"] = "yes"
            loaded.version += 1
            await uow.carts.flush()
            await uow.commit()

        reruns = metrics.group_commit_reruns.labels("changed")
        before = reruns._value.get()
        await units.run(add_property, key="elsewhere")  # not this process's lock of the cart
        final = (await servicer.GetCart(pb.GetCartRequest(cart_id=cart.id), None)).cart  # type: ignore[arg-type]
        return attempts, final, await versions_of(database, [cart]), reruns._value.get() - before

    attempts, final, (version,), reruns = on_postgres(postgres_url, scenario)
    assert attempts[1] == attempts[0] + 1  # the second run read the other change's version
    assert final.items[0].quantity == 5 and final.custom_properties["gift"] == "yes"
    assert version == attempts[0] + 2
    assert reruns == 1


def test_a_change_that_needs_an_answer_from_a_write_runs_locked(postgres_url: str) -> None:
    async def scenario(database: Database, servicer: CartServicer, units: UnitOfWorkFactory) -> Any:
        (cart,) = await new_carts(servicer, 1)
        ran_locked: list[bool] = []

        async def write_and_read_back(uow: UnitOfWork) -> None:
            ran_locked.append(uow._connection.locks_rows)
            await uow._connection.execute(
                Statement("UPDATE carts SET updated_time = updated_time WHERE id = :id"),
                {"id": cart.id},
            )
            await uow.commit()

        await units.run(write_and_read_back, key=cart.id)
        return ran_locked

    assert on_postgres(postgres_url, scenario) == [False, True]


def test_a_change_that_fails_in_a_batch_fails_alone(postgres_url: str) -> None:
    async def scenario(database: Database, servicer: CartServicer, _: Any) -> Any:
        carts = await new_carts(servicer, 3)
        group = GroupCommit(database)
        bump = Statement("UPDATE carts SET version = version + 1 WHERE id = :id")
        duplicate = Statement(
            "INSERT INTO carts (id, collection_id, user_id, status, version, created_time,"
            " updated_time, document) SELECT id, collection_id, user_id, status, version,"
            " created_time, updated_time, document FROM carts WHERE id = :id"
        )
        writes = [
            [(bump, {"id": carts[0].id}, False)],
            [(bump, {"id": carts[1].id}, False), (duplicate, {"id": carts[1].id}, False)],
            [(bump, {"id": carts[2].id}, False)],
        ]
        before = await versions_of(database, carts)
        outcomes = await asyncio.gather(*(group.commit(w) for w in writes), return_exceptions=True)
        return outcomes, before, await versions_of(database, carts)

    outcomes, before, after = on_postgres(postgres_url, scenario)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], psycopg.IntegrityError)
    assert after == [before[0] + 1, before[1], before[2] + 1]  # the failed one wrote nothing


def test_reads_of_different_carts_share_a_round_trip(postgres_url: str) -> None:
    async def scenario(database: Database, servicer: CartServicer, _: Any) -> Any:
        carts = await new_carts(servicer, 6)
        heard: list[str] = []
        database.listener = heard.append
        answers = await asyncio.gather(
            *(servicer.GetCart(pb.GetCartRequest(cart_id=c.id), None) for c in carts),  # type: ignore[arg-type]
            servicer.GetCart(pb.GetCartRequest(cart_id=carts[0].id), None),  # type: ignore[arg-type]
        )
        database.listener = None
        return [a.cart.id for a in answers], [c.id for c in carts], heard.count("(round trip)")

    answered, ids, round_trips = on_postgres(postgres_url, scenario)
    assert answered == [*ids, ids[0]]  # each read its own cart, a repeated key too
    assert round_trips < 7, round_trips


@pytest.mark.parametrize("holder", ["cart", "basket"])
def test_changes_of_one_key_in_a_process_run_one_after_the_other(holder: str) -> None:
    async def scenario() -> list[str]:
        group = GroupCommit(None)  # type: ignore[arg-type]  # holding() needs no database
        order: list[str] = []

        async def change(name: str) -> None:
            async with group.holding((holder, 1)):
                order.append(f"{name} in")
                await asyncio.sleep(0.01)
                order.append(f"{name} out")

        await asyncio.gather(change("a"), change("b"))
        assert not group._holders  # nothing kept for keys no change holds
        return order

    assert asyncio.run(scenario()) == ["a in", "a out", "b in", "b out"]
