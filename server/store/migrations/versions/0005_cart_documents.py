"""carts as one row each: the aggregate in a JSON document, part ids from one id space

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Upgrade reads every cart with its parts from the nine tables of 0001, writes the cart's document
(the serialized cartservice.cart.v1.Cart, as GetCart answered it; the conversion is written out
here so that this migration keeps meaning what it meant when later code changes) and drops the
part tables. Ids are kept, and new cart and part ids start above the highest. Downgrade writes
the documents back into the part tables.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from cartservice.cart.v1 import cart_pb2
from cartservice.type.v1 import decimal_pb2
from google.protobuf.message_factory import GetMessageClass

import server.store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
PART_ID_BLOCK = 1000
DECIMAL = decimal_pb2.Decimal.DESCRIPTOR
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Money = server.store.types.ExactDecimal
Properties = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
PART_TABLES = (
    "skus", "other_charges", "cart_items", "payments", "promotions",
    "communication_preferences", "loyalty_details", "shippings", "addresses",
)  # fmt: skip
CART_COLUMNS_OF_0001 = (
    "accounts_id", "type", "custom_properties", "shipping_id", "address_id", "created_by",
    "updated_by",
)  # fmt: skip
ADDRESS_TEXTS = (
    "first_name", "last_name", "middle_name", "company_name", "address_line1", "address_line2",
    "address_line3", "city", "state", "county", "country", "zip", "email", "phone", "mobile",
    "store_id", "profile_address_id",
)  # fmt: skip


def _legacy_tables() -> sa.MetaData:
    """The tables of revision 0001 that this revision folds into the carts' documents."""
    meta = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )

    def cart_ref() -> sa.Column[int]:
        return sa.Column(
            "cart_id", Id, sa.ForeignKey("carts.id", ondelete="CASCADE"), nullable=False,
            index=True,
        )  # fmt: skip

    def text(name: str, length: int = 256, nullable: bool = False) -> sa.Column[str]:
        return sa.Column(name, sa.String(length), nullable=nullable)

    sa.Table(
        "carts", meta, sa.Column("id", Id, primary_key=True),
        sa.Column("collection_id", sa.BigInteger), text("user_id", 64), text("status", 16),
        sa.Column("created_time", sa.BigInteger), sa.Column("updated_time", sa.BigInteger),
        sa.Column("accounts_id", sa.BigInteger), text("type", 64),
        sa.Column("custom_properties", Properties), sa.Column("shipping_id", Id),
        sa.Column("address_id", Id), text("created_by", 64), text("updated_by", 64),
    )  # fmt: skip
    sa.Table(
        "shippings", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        text("type"), text("selected_method"),
        sa.Column("delivery_on_or_before", sa.BigInteger, nullable=False),
        text("delivery_instructions", 1024),
        sa.Column("shipping_version", sa.BigInteger, nullable=False),
    )  # fmt: skip
    sa.Table(
        "addresses", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        *(text(name) for name in ADDRESS_TEXTS),
        sa.Column("can_receive_sms", sa.Boolean, nullable=False),
        sa.Column("address_version", sa.BigInteger, nullable=False),
    )  # fmt: skip
    sa.Table(
        "cart_items", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        cart_ref(), sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("quantity_v2", Money, nullable=False),
        sa.Column("fulfillment_date", sa.BigInteger, nullable=False),
        sa.Column("custom_properties", Properties, nullable=False),
        sa.Column("shipping_id", Id, sa.ForeignKey("shippings.id"), index=True),
        sa.Column("address_id", Id, sa.ForeignKey("addresses.id"), index=True),
        text("created_by", 64), sa.Column("created_time", sa.BigInteger, nullable=False),
        text("updated_by", 64), sa.Column("updated_time", sa.BigInteger, nullable=False),
    )  # fmt: skip
    sa.Table(
        "skus", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column(
            "item_id", Id, sa.ForeignKey("cart_items.id", ondelete="CASCADE"), nullable=False,
            index=True,
        ),
        text("sku_id", 64), text("product_id", 64), text("bundle_sku_type", 64),
        sa.Column("optional_sku_quantity", sa.Integer, nullable=False),
        sa.Column("price", Money, nullable=False),
        sa.Column("sku_quantity", sa.Integer, nullable=False),
        sa.Column("sku_quantity_v2", Money, nullable=False),
        sa.Column("optional_sku_quantity_v2", Money, nullable=False),
    )  # fmt: skip
    sa.Table(
        "payments", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        cart_ref(), text("payment_id"), text("payment_item_id"), text("transaction_id"),
        sa.Column("amount", Money, nullable=False), text("currency", 8),
        text("payment_type", 64),
    )  # fmt: skip
    sa.Table(
        "promotions", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        cart_ref(), text("promo_code", 64), text("name"), text("created_by", 64),
        sa.UniqueConstraint("cart_id", "promo_code"),
    )  # fmt: skip
    sa.Table(
        "communication_preferences", meta,
        sa.Column("cart_id", Id, sa.ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
        text("first_name"), text("last_name"), text("email"), text("phone", 64),
        text("contact_method", 16, nullable=True), text("zip_code", 64),
    )  # fmt: skip
    sa.Table(
        "other_charges", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        cart_ref(),
        sa.Column("item_id", Id, sa.ForeignKey("cart_items.id", ondelete="CASCADE"), index=True),
        text("name"), text("description", 1024), sa.Column("charge_value", Money, nullable=False),
        text("charge_against", 64), sa.Column("taxable", sa.Boolean, nullable=False),
        text("type", 16, nullable=True), text("charge_type", 16, nullable=True),
        text("charge_source", 64),
        *(
            sa.Column(name, sa.Boolean, nullable=False)
            for name in ("charge_value_overridable", "waive_overridable", "waived_by_default")
        ),
        text("created_by", 64), text("updated_by", 64, nullable=True),
    )  # fmt: skip
    sa.Table(
        "loyalty_details", meta, sa.Column("id", Id, primary_key=True, autoincrement=True),
        cart_ref(), sa.Column("value", Money, nullable=False),
        sa.Column("points", Money, nullable=False), text("type", 64), text("value_type", 64),
    )  # fmt: skip
    return meta


def _plain(row: Any, *skip: str) -> dict[str, Any]:
    """A row as document fields: decimals as their text, the owner's foreign keys left out."""
    return {
        key: str(value) if isinstance(value, Decimal) else value
        for key, value in row._mapping.items()
        if key not in skip
    }


def _by(rows: Any, key: str) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, key), []).append(row)
    return grouped


def _cart_batches(bind: sa.Connection, carts: sa.Table) -> Iterator[Sequence[Any]]:
    last = 0
    while True:
        batch = bind.execute(
            sa.select(carts).where(carts.c.id > last).order_by(carts.c.id).limit(BATCH)
        ).all()
        if not batch:
            return
        yield batch
        last = batch[-1].id


def _documents(
    bind: sa.Connection, t: Mapping[str, sa.Table], batch: Sequence[Any]
) -> dict[int, str]:
    """The documents of a batch of carts, from their rows in the part tables."""
    ids = [cart.id for cart in batch]

    def of_carts(name: str) -> dict[Any, list[Any]]:
        table = t[name]
        rows = bind.execute(
            sa.select(table).where(table.c.cart_id.in_(ids)).order_by(*table.primary_key)
        )
        return _by(rows, "cart_id")

    items, payments, promotions = (
        of_carts("cart_items"),
        of_carts("payments"),
        of_carts("promotions"),
    )
    charges, loyalty = of_carts("other_charges"), of_carts("loyalty_details")
    preferences = of_carts("communication_preferences")
    item_ids = [item.id for rows in items.values() for item in rows]
    skus = _by(
        bind.execute(
            sa.select(t["skus"]).where(t["skus"].c.item_id.in_(item_ids)).order_by(t["skus"].c.id)
        ),
        "item_id",
    )
    singles = [*(row for rows in items.values() for row in rows), *batch]
    shipping_ids = [row.shipping_id for row in singles if row.shipping_id is not None]
    address_ids = [row.address_id for row in singles if row.address_id is not None]
    shippings = {
        row.id: _plain(row)
        for row in bind.execute(
            sa.select(t["shippings"]).where(t["shippings"].c.id.in_(shipping_ids))
        )
    }
    addresses = {
        row.id: _plain(row)
        for row in bind.execute(
            sa.select(t["addresses"]).where(t["addresses"].c.id.in_(address_ids))
        )
    }

    def item_document(item: Any) -> dict[str, Any]:
        document = _plain(item, "cart_id", "shipping_id", "address_id")
        document["skus"] = [_plain(sku, "item_id") for sku in skus.get(item.id, [])]
        document["shipping"] = shippings.get(item.shipping_id)
        document["address"] = addresses.get(item.address_id)
        return document

    documents = {}
    for cart in batch:
        preference = preferences.get(cart.id)
        document = {
            "accounts_id": cart.accounts_id,
            "type": cart.type,
            "items": [item_document(item) for item in items.get(cart.id, [])],
            "payments": [_plain(p, "cart_id") for p in payments.get(cart.id, [])],
            "promotions": [_plain(p, "cart_id", "id") for p in promotions.get(cart.id, [])],
            "shipping": shippings.get(cart.shipping_id),
            "communication_preference": _plain(preference[0], "cart_id") if preference else None,
            "custom_properties": cart.custom_properties,
            "address": addresses.get(cart.address_id),
            "other_charges": [_plain(c, "cart_id") for c in charges.get(cart.id, [])],
            "loyalty_details": [_plain(d, "cart_id") for d in loyalty.get(cart.id, [])],
            "created_by": cart.created_by,
            "updated_by": cart.updated_by,
        }
        for charge in document["other_charges"]:
            charge["cart_id"] = cart.id
        document.update(
            {name: getattr(cart, name) for name in (
                "id", "user_id", "collection_id", "status", "created_time", "updated_time")}
        )  # fmt: skip
        documents[cart.id] = _message(cart_pb2.Cart, document).SerializeToString()
    return documents


def _message(message_class: Any, values: Mapping[str, Any]) -> Any:
    """A message of the contract from column values: decimals as canonical text, enums by
    name, item times (epoch ms in 0001) as the seed's text; None leaves a field unset."""
    fields = message_class.DESCRIPTOR.fields_by_name
    out: dict[str, Any] = {}
    for name, value in values.items():
        field = fields[name]
        if value is None:
            continue
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            out[name] = dict(value)
        elif field.is_repeated:
            element = GetMessageClass(message_type)
            out[name] = [_message(element, v) for v in value]
        elif message_type is DECIMAL:
            out[name] = decimal_pb2.Decimal(value=_decimal_text(Decimal(value)))
        elif message_type is not None:
            out[name] = _message(GetMessageClass(message_type), value)
        elif field.enum_type is not None:
            out[name] = field.enum_type.values_by_name[_enum_prefix(field.enum_type) + value].number
        elif field.type == field.TYPE_STRING and isinstance(value, int):
            out[name] = _item_time_text(value)
        else:
            out[name] = value
    return message_class(**out)


def _values(message: Any) -> dict[str, Any]:
    """The column values of a message (the inverse of _message)."""
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            out[field.name] = dict(value)
        elif field.is_repeated:
            out[field.name] = [_values(v) for v in value]
        elif message_type is not None or field.has_presence:
            if not message.HasField(field.name):
                out[field.name] = None
            elif message_type is DECIMAL:
                out[field.name] = Decimal(value.value)
            else:
                out[field.name] = _values(value) if message_type is not None else value
        elif field.enum_type is not None:
            out[field.name] = (
                field.enum_type.values_by_number[value].name.removeprefix(
                    _enum_prefix(field.enum_type)
                )
                if value
                else None
            )
        elif field.name in ("created_time", "updated_time") and isinstance(value, str):
            out[field.name] = _item_time_ms(value)
        else:
            out[field.name] = value
    return out


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _enum_prefix(enum: Any) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _item_time_text(epoch_ms: int) -> str:
    t = time.gmtime(epoch_ms // 1000)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT {t.tm_year}"
    )


def _item_time_ms(text: str) -> int:
    _, month, day, clock, _, year = text.split()
    hour, minute, second = (int(part) for part in clock.split(":"))
    moment = (int(year), _MONTHS.index(month) + 1, int(day), hour, minute, second)
    return calendar.timegm((*moment, 0, 0, 0)) * 1000


def _highest_id(bind: sa.Connection, t: Mapping[str, sa.Table]) -> int:
    highest = 0
    for name in ("carts", *PART_TABLES):
        if name != "communication_preferences":
            highest = max(highest, bind.execute(sa.select(sa.func.max(t[name].c.id))).scalar() or 0)
    return highest


def upgrade() -> None:
    bind = op.get_bind()
    legacy = _legacy_tables()
    t = legacy.tables
    op.add_column("carts", sa.Column("document", sa.LargeBinary(), nullable=True))
    documents_table = sa.table("carts", sa.column("id", Id), sa.column("document", sa.LargeBinary))
    for batch in _cart_batches(bind, t["carts"]):
        documents = _documents(bind, t, batch)
        bind.execute(
            documents_table.update()
            .where(documents_table.c.id == sa.bindparam("cart_id"))
            .values(document=sa.bindparam("document")),
            [{"cart_id": cart_id, "document": text} for cart_id, text in documents.items()],
        )
    next_id = _highest_id(bind, t) + 1
    for name in PART_TABLES[:-2]:
        op.drop_table(name)
    with op.batch_alter_table("carts") as batch_op:
        batch_op.drop_index("ix_carts_shipping_id")
        batch_op.drop_index("ix_carts_address_id")
        batch_op.drop_constraint("fk_carts_shipping_id_shippings", type_="foreignkey")
        batch_op.drop_constraint("fk_carts_address_id_addresses", type_="foreignkey")
        for name in CART_COLUMNS_OF_0001:
            batch_op.drop_column(name)
        batch_op.alter_column("document", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("shippings")
    op.drop_table("addresses")
    blocks = op.create_table(
        "part_id_blocks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("next_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_part_id_blocks")),
    )
    if bind.dialect.name == "postgresql":
        op.execute(
            f"CREATE SEQUENCE cart_part_ids INCREMENT BY {PART_ID_BLOCK} START WITH {next_id}"
        )
    else:
        op.bulk_insert(blocks, [{"name": "cart_parts", "next_id": next_id}])


def _rows_of(cart_id: int, document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A document as rows of the part tables of 0001."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in PART_TABLES}

    def single(name: str, part: dict[str, Any] | None) -> int | None:
        if part is None:
            return None
        rows[name].append(part)
        return int(part["id"])

    single("shippings", document["shipping"])
    single("addresses", document["address"])
    for item in document["items"]:
        skus = item.pop("skus")
        shipping, address = item.pop("shipping"), item.pop("address")
        rows["cart_items"].append(
            {
                **item, "cart_id": cart_id, "shipping_id": single("shippings", shipping),
                "address_id": single("addresses", address),
            }
        )  # fmt: skip
        rows["skus"].extend({**sku, "item_id": item["id"]} for sku in skus)
    for name, key in (
        ("payments", "payments"), ("promotions", "promotions"),
        ("other_charges", "other_charges"), ("loyalty_details", "loyalty_details"),
    ):  # fmt: skip
        rows[name].extend({**part, "cart_id": cart_id} for part in document[key])
    for charge in rows["other_charges"]:
        charge["item_id"] = charge["item_id"] or None  # 0 in a message: a cart-level charge
    if document["communication_preference"] is not None:
        rows["communication_preferences"].append(
            {**document["communication_preference"], "cart_id": cart_id}
        )
    return rows


def _decimals(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    return {
        key: Decimal(value) if isinstance(table.c[key].type, Money) else value
        for key, value in row.items()
    }


def downgrade() -> None:
    bind = op.get_bind()
    legacy = _legacy_tables()
    t = legacy.tables
    op.drop_table("part_id_blocks")
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE cart_part_ids")
    legacy.create_all(bind, tables=[t["shippings"], t["addresses"]])
    with op.batch_alter_table("carts") as batch_op:
        batch_op.add_column(sa.Column("accounts_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("type", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("custom_properties", Properties, nullable=True))
        batch_op.add_column(sa.Column("shipping_id", Id, nullable=True))
        batch_op.add_column(sa.Column("address_id", Id, nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.String(64), nullable=True))
        batch_op.create_foreign_key(
            "fk_carts_shipping_id_shippings", "shippings", ["shipping_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_carts_address_id_addresses", "addresses", ["address_id"], ["id"]
        )
        batch_op.create_index("ix_carts_shipping_id", ["shipping_id"])
        batch_op.create_index("ix_carts_address_id", ["address_id"])
    legacy.create_all(bind, tables=[t[name] for name in PART_TABLES[:-2]])
    carts = sa.table(
        "carts", sa.column("id", Id), sa.column("document", sa.LargeBinary),
        *(sa.column(c.name, c.type) for c in t["carts"].c if c.name in CART_COLUMNS_OF_0001),
    )  # fmt: skip
    promotion_id = 0
    last = 0
    while batch := bind.execute(
        sa.select(carts.c.id, carts.c.document)
        .where(carts.c.id > last)
        .order_by(carts.c.id)
        .limit(BATCH)
    ).all():
        last = batch[-1].id
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in PART_TABLES}
        columns = []
        for cart_id, data in batch:
            document = _values(cart_pb2.Cart.FromString(data))
            for name, part_rows in _rows_of(cart_id, document).items():
                rows[name].extend(part_rows)
            columns.append(
                {
                    "cart_id": cart_id, "accounts_id": document["accounts_id"],
                    "type": document["type"], "custom_properties": document["custom_properties"],
                    "shipping_id": (document["shipping"] or {}).get("id"),
                    "address_id": (document["address"] or {}).get("id"),
                    "created_by": document["created_by"], "updated_by": document["updated_by"],
                }
            )  # fmt: skip
        for promotion in rows["promotions"]:
            promotion_id += 1
            promotion["id"] = promotion_id
        for name in ("shippings", "addresses"):
            if rows[name]:
                bind.execute(t[name].insert(), [_decimals(t[name], r) for r in rows[name]])
        bind.execute(
            carts.update()
            .where(carts.c.id == sa.bindparam("cart_id"))
            .values({name: sa.bindparam(name) for name in CART_COLUMNS_OF_0001}),
            columns,
        )
        for name in PART_TABLES[:-2][::-1]:
            if rows[name]:
                bind.execute(t[name].insert(), [_decimals(t[name], r) for r in rows[name]])
    with op.batch_alter_table("carts") as batch_op:
        for name in ("accounts_id", "type", "custom_properties", "created_by", "updated_by"):
            batch_op.alter_column(name, existing_type=t["carts"].c[name].type, nullable=False)
        batch_op.drop_column("document")
    if bind.dialect.name == "postgresql":
        for name in PART_TABLES:
            if name != "communication_preferences":
                op.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"
                    f" COALESCE((SELECT max(id) FROM {name}), 0) + 1, false)"
                )
