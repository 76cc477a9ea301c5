"""The statuses errors become: every detail a client needs, within what a client accepts."""

from __future__ import annotations

from google.rpc import code_pb2, error_details_pb2

from server.api.errors import MAX_STATUS_BYTES, TRUNCATED, status_for
from server.domain.errors import FieldViolation, InvalidArgument


def unpacked(status: object, kind: type) -> list:
    found = []
    for packed in status.details:  # type: ignore[attr-defined]
        if packed.Is(kind.DESCRIPTOR):
            message = kind()
            packed.Unpack(message)
            found.append(message)
    return found


def sku_violations(count: int, description: str = "is required") -> list[FieldViolation]:
    return [
        FieldViolation(f"items[{i // 50}].skus[{i % 50}].sku_id", description) for i in range(count)
    ]


def test_a_few_violations_arrive_whole() -> None:
    status = status_for(InvalidArgument(sku_violations(3)))

    [bad] = unpacked(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == [
        "items[0].skus[0].sku_id", "items[0].skus[1].sku_id", "items[0].skus[2].sku_id"
    ]  # fmt: skip
    assert unpacked(status, error_details_pb2.ErrorInfo) == []
    assert status.code == code_pb2.INVALID_ARGUMENT


def test_many_violations_are_cut_to_the_first_that_fit_and_counted() -> None:
    status = status_for(InvalidArgument(sku_violations(5_000)))

    assert status.ByteSize() <= MAX_STATUS_BYTES
    [bad] = unpacked(status, error_details_pb2.BadRequest)
    shown = len(bad.field_violations)
    assert 50 < shown < 5_000
    assert bad.field_violations[0].field == "items[0].skus[0].sku_id"  # the first ones, in order
    [info] = unpacked(status, error_details_pb2.ErrorInfo)
    assert info.reason == TRUNCATED
    assert dict(info.metadata) == {"violations": "5000", "shown": str(shown)}
    assert f"5000 violations; the first {shown} are in the details" in status.message


def test_long_texts_are_shortened_whatever_their_script() -> None:
    status = status_for(InvalidArgument(sku_violations(200, description="é" * 5_000)))

    assert status.ByteSize() <= MAX_STATUS_BYTES
    assert len(status.message.encode()) < 700
    [bad] = unpacked(status, error_details_pb2.BadRequest)
    assert bad.field_violations[0].description.startswith("éé")
    assert bad.field_violations[0].description.endswith("...")
