"""Items written to DynamoDB are in exactly the wire format boto3's TypeSerializer gives, and refused alike."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from cdp.adapters.dynamodb import plain, wire


def test_an_item_is_in_the_wire_format_boto3_serializes_it_to() -> None:
    # Given items of every value type, nested, with integers on both sides of DynamoDB's 38 digits
    record = {"sku": "A1", "quantity": 3, "amount": Decimal("12.50"), "gift": False, "note": None,
              "tags": ["x", 1, {"deep": [Decimal("-0"), True]}], "ids": {"a", "b"}, "sizes": {1, Decimal("2.5")}}  # fmt: skip
    items: list[dict[str, Any]] = [
        {"pk": "RECORD#orders#1", "record": record, "empty": {}, "none": [], "tuple": ("a", 2)},
        {"big": 10**37, "bigger": -(10**38) + 1, "zero": 0, "negative": -5},
        {"binary": b"\x00", "wrapped": Binary(b"\x01"), "bytes_set": {b"a"}, "mapping": OrderedDict(a="b")},
    ]
    serializer = TypeSerializer()
    for item in items:
        # When it is converted for the low-level client
        # Then each value is what TypeSerializer makes of it
        assert wire(item) == {name: serializer.serialize(value) for name, value in item.items()}


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), 10**39 + 1, object(), {"x": 1.5}, [2.5]])
def test_a_value_boto3_refuses_is_refused_with_its_error(value: Any) -> None:
    with pytest.raises(Exception) as boto3_error:
        TypeSerializer().serialize(value)
    with pytest.raises(type(boto3_error.value)) as error:
        wire({"value": value})
    assert str(error.value) == str(boto3_error.value)


def test_an_item_read_is_the_plain_values_boto3_deserializes_it_to() -> None:
    # Given an item in wire format with every type, nested, and the values boto3 refuses to read
    item = TypeSerializer().serialize({"s": "x", "n": Decimal("12.50"), "i": 7, "b": True, "z": None, "l": ["a", {"m": 1}],
                                       "ss": {"a"}, "ns": {1, 2}, "bin": b"\x00", "bs": {b"a"}, "empty": {}})["M"]  # fmt: skip
    refused: list[Any] = [{}, {"Q": "x"}, {"N": "1e400"}]
    deserializer = TypeDeserializer()
    # When it is read, Then each value is what TypeDeserializer makes of it
    assert plain(item) == {name: deserializer.deserialize(value) for name, value in item.items()}
    assert [type(value) for value in plain(item).values()] == [type(deserializer.deserialize(v)) for v in item.values()]
    for value in refused:
        with pytest.raises(Exception) as boto3_error:
            deserializer.deserialize(value)
        with pytest.raises(type(boto3_error.value)):
            plain({"value": value})
