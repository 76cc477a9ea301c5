"""Column types that keep money exact on every backend."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Scale the service accepts for every decimal (see cartservice.type.v1.Decimal).
DECIMAL_PRECISION = 19
DECIMAL_SCALE = 4


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(19, 4) where the database has it; exact decimal text on SQLite.

    SQLite has no decimal type: SQLAlchemy's Numeric would store a binary float there, so the
    embedded default keeps the decimal's text instead.
    """

    impl = Numeric(DECIMAL_PRECISION, DECIMAL_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(DECIMAL_PRECISION, DECIMAL_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if dialect.name == "sqlite" else value
