"""Faster paths through moto's in-process DynamoDB for the local stack, with the same answers.

A local run spends most of its time in moto's generic machinery rather than in its DynamoDB model:
- every DynamoDB answer is walked value by value against the botocore output shape (about 70% of a large GetItem
  or BatchGetItem), although DynamoDB's data-plane answers are already plain JSON values;
- every condition expression is parsed again by each layer that looks at it (request validation, the
  transaction, the put itself): three parses per conditional put in a transaction, and a natural-key claim's
  expression is the same text with another value for every row;
- every request is walked value by value against the botocore input shape, although a data-plane request is
  plain JSON already;
- every update expression is parsed twice (request validation, the update), and each of the update validator's
  ten passes rebuilds its processing map for every node of the tree;
- building an item re-sums the sizes of all its attributes for each attribute it sets;
- every query sorts the whole table and compares each item with its hash-key condition (a lookup of one send
  record by its provider's message id walks every send record), and every sort of a table (each query, each
  page of a scan) works out each key's value again at every comparison;
- projecting an item converts the whole item to plain values once per projected path;
- every page of a scan sorts the whole table again and walks it from the start to the page's start key, working
  out each item's segment on the way: a scan of n items in pages costs about n² / page; and it deep-copies every
  item it scans before its filter expression drops most of them and its projection makes new items anyway;
- every UpdateItem deep-copies the item and converts it, before and after, to JSON only to pick the attributes
  to return (none, by default), and deep-copies it again for the table's stream (which no table here has);
- every attribute an update sets re-sums the size of the whole item;
- every deep copy of an item (moto's, and the local stack's transaction snapshots) goes through `copy.deepcopy`
  for each node of each attribute;
- request validation parses each condition into the condition it then drops, and a transaction's put, update or
  delete checks again the condition the transaction has just checked on the same item;
- botocore's client-side validation walks every attribute value of a request node by node (about a third of a
  transaction's CPU time here);
- every update's validator deep-copies the expression's syntax tree through `copy.deepcopy`, node by node, and its
  ten passes ask `isinstance` of moto's abstract node classes at every node, one of them searching every node's
  whole subtree again three times (quadratic in the expression's size); an update that only sets, adds to or
  removes top-level attributes (a profile's aggregates) spends most of its time there;
- botocore serialises every request and parses every answer by walking it against its shape, value by value,
  although a DynamoDB data-plane request or answer without binary values is sent and read as it is;
- every answer is converted to plain values by a generic walk that asks `isinstance` and `hasattr` at each value,
  then walked again to see whether it is plain JSON; and every size of a value (each item a scan or query page
  counts, each key) wraps each value of a map in a new DynamoType, at every level.
Here data-plane requests and answers made only of JSON values are decoded and encoded directly (anything else,
e.g. binary attributes, goes through moto's parser and serializer), condition expressions are parsed once per text, names and value placeholders
(a condition without value placeholders is built once; one with them is built once with slots that read the values
of the call evaluating it, and built with a call's values when that call evaluates it again, as a filter does;
where building checks the values, BETWEEN, each call's values are placed in a copy of the kept syntax tree), update
expressions once per text, each
validator pass's node types once per pass, an item's size limit is checked on a
running total, a query looks only at the items under its hash key (on an index, those whose key attribute holds
a value of the right type and text), a table is sorted on its keys' values worked out once, a projection to top-level names converts only those attributes (and copies them directly where moto's
conversion would give them back unchanged),
and a table's scan order (and each scan segment's share of it) is kept until an item is put or deleted, each page
starting at its start key found by bisection, copying only the items the filter keeps and none it projects. An update returning no attributes skips what only builds returned
attributes, an update of a table without a stream skips the stream's copy, the attributes an update sets at the
top of the item are checked against the size limit on a running total (summed again after any action that
changes a value in place), and items are copied node by node directly, sharing their scalars (never changed in
place). Request validation builds a condition only where building it checks its values (BETWEEN), a transaction's
writes skip the condition it checked, and an attribute value (or a map of them) whose types pass a direct check is
not walked by botocore's validator (anything else is, so its report is botocore's own). An update validator's copy
of a plain syntax tree (nodes, names, numbers and flags) is made node by node directly, its passes decide once per
node type whether they process it, and the count of ADD, REMOVE and SET clauses under each node is summed from its
children's. An update made only of `SET name = :value`, `ADD name :value` and `REMOVE name` on top-level attributes
is checked directly for everything moto's passes check (anything they would refuse goes through them, so the error
is moto's) and applied as moto's executors apply it, in the same order. botocore's request body of a data-plane
request without binary values is `json.dumps` of its parameters (once botocore has validated them, a look at that
text tells), and a plain data-plane answer is `json.loads` of its body.
An answer of attribute values, dicts, lists and scalars is converted in one walk that knows it is plain JSON, and
sizes are measured without copies (`_size`, which the item size limit already used; key sizes on directly typed
values), and an item's size is kept on it until an update changes it (scans and batch reads size every item they
read, a large profile thousands of values deep). An item's attribute values
are typed directly (moto's constructor makes two lists at every node to read the node's one type). A request's DynamoDB backend is looked up once (moto looks it up for every item of a transaction). Around every
request (`faster_dispatch`), moto's handler is kept per URL, request ids are drawn in one call, and DynamoDB's
endpoint parameters are read from the request directly instead of through JMESPath.
`tests/unit/test_moto_speedups.py` checks that these give what moto and botocore give.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import re
import string
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Generic, TypeVar, cast
from unittest import mock

import jmespath
from boto3.dynamodb.types import DYNAMODB_CONTEXT
from botocore.exceptions import ParamValidationError
from botocore.parsers import JSONParser
from botocore.regions import EndpointRulesetResolver
from botocore.serialize import JSONSerializer
from botocore.session import get_session
from botocore.utils import merge_dicts
from botocore.validate import ParamValidationDecorator, ParamValidator
from moto.core.serialize import BaseJSONSerializer, ResponseDict
from moto.dynamodb import comparisons
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.comparisons import AttributeValue, ConditionExpressionParser
from moto.dynamodb.exceptions import (
    HashKeyTooLong,
    ItemSizeTooLarge,
    MockValidationException,
    RangeKeyTooLong,
    TooManyClauses,
)
from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH, RANGE_KEY_MAX_LENGTH
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict, deserializer, serializer
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.models.utilities import bytesize
from moto.dynamodb.parsing import validators as update_validators
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    DepthFirstTraverser,
    Expression,
    ExpressionAttribute,
    ExpressionAttributeName,
    ExpressionAttributeValue,
    Node,
    UpdateExpression,
    UpdateExpressionAddAction,
    UpdateExpressionAddClause,
    UpdateExpressionFunction,
    UpdateExpressionPath,
    UpdateExpressionRemoveAction,
    UpdateExpressionRemoveClause,
    UpdateExpressionSetAction,
    UpdateExpressionSetClause,
    UpdateExpressionValue,
)
from moto.dynamodb.parsing.executors import AddExecutor, RemoveExecutor, SetExecutor, UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

DATA_PLANE_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "TransactGetItems",
    }
)
PARSED_EXPRESSIONS_KEPT = 4096
_ParseKey = tuple[str, tuple[tuple[str, str], ...] | None, tuple[str, ...] | None]  # text, names, placeholders
WALKED_BY_SHAPE = (b"null", b'"B"', b'"BS"')  # a JSON text holding these is left to the shape walk (nulls, binary)
KEPT_SIZE = "_local_stack_size"  # (updates counted, size) of an item as `_item_size` measured it, on the item
SIZE_CHANGES = "_local_stack_size_changes"  # how many updates may have changed the item's size
ITEM_SIZE_LIMIT = 405000  # moto's item size limit (DynamoDB's 400 KB, as moto measured it)
ROUTES_KEPT = 4096  # URLs (without query) whose moto handler is kept
REQUEST_ID_CHARACTERS = string.ascii_letters + string.digits

original_serialize_result = BaseJSONSerializer._serialize_result
original_dynamo_to_dict = dynamodb_responses.dynamo_to_dict
original_handle_json_body = JSONParser._handle_json_body
original_serialize_to_request = JSONSerializer.serialize_to_request
original_create_parser = comparisons.create_condition_expression_parser
original_parse_parameters = dynamodb_responses.DynamoHandler.parse_parameters
original_make_update_expression = UpdateExpressionParser.make
original_nodes_to_be_processed = DepthFirstTraverser.nodes_to_be_processed
original_project = Item.project
LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")  # moto's test for a path element naming a list element
original_query = Table.query
original_scan = Table.scan
SCAN_SIGNATURE = inspect.signature(original_scan)
original_put_item = Table.put_item
original_delete_item = Table.delete_item
original_update_item_answer = dynamodb_responses.DynamoHandler.update_item
original_dynamodb_backend = cast(property, vars(dynamodb_responses.DynamoHandler)["dynamodb_backend"])
original_execute = UpdateExpressionExecutor.execute
original_limited_setitem = LimitedSizeDict.__setitem__
original_cast_value = cast(Callable[[DynamoType], Any], cast(property, vars(DynamoType)["cast_value"]).fget)
SET_TYPES = frozenset({"SS", "NS", "BS"})
SCALAR_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL"})
NODE_TYPES_PROCESSED: dict[type, tuple[type, ...]] = {}
RESERVED_KEYWORDS = frozenset(ReservedKeywords.get_reserved_keywords())  # moto refuses them as plain names in paths
K = TypeVar("K")
V = TypeVar("V")


class _NotPlain(Exception):
    """A value `_plain_conversion` leaves to moto's `dynamo_to_dict` (binary values, nulls, any other object)."""


def _plain_conversion(value: Any) -> Any:
    """What moto's `dynamo_to_dict` makes of a value built only of attribute values (not binary), dicts (an item's
    attributes among them) with string keys, lists, strings, integers, floats and booleans: the same structure of
    plain dicts and lists, which is then plain JSON. Raises `_NotPlain` for anything else."""
    kind = type(value)
    if kind is DynamoType:
        if value.type in ("B", "BS"):
            raise _NotPlain
        return {value.type: _plain_conversion(value.value)}
    if kind is dict or kind is LimitedSizeDict:
        converted = {}
        for key, held in value.items():
            if type(key) is not str:
                raise _NotPlain
            converted[key] = _plain_conversion(held)
        return converted
    if kind is list:
        return [_plain_conversion(element) for element in value]
    if kind is str or kind is int or kind is float or kind is bool:
        return value
    raise _NotPlain


_plain_answers = threading.local()  # the last answer converted in this thread, and its entries then


def dynamo_to_dict(value: Any) -> Any:
    """moto's conversion of a DynamoDB answer to plain values, made in one walk where the answer is plain JSON
    (then remembered as such, so that the serializer does not walk it again); anything else is moto's."""
    try:
        converted = _plain_conversion(value)
    except _NotPlain:
        return original_dynamo_to_dict(value)
    if type(converted) is dict:
        _plain_answers.last = (converted, dict(converted))
    return converted


def _known_plain(result: dict[str, Any]) -> bool:
    """Whether this answer is the last one converted in this thread with every entry still the one converted, or
    one added since (moto adds the consumed capacity) being plain JSON."""
    known = getattr(_plain_answers, "last", None)
    _plain_answers.last = None
    if known is None or known[0] is not result:
        return False
    converted = known[1]
    return all(converted.get(key) is held or _plain_json({key: held}) for key, held in result.items())


def serialize_result(serializer: Any, response: ResponseDict, result: Any) -> ResponseDict:
    """moto's JSON serializer, short-circuited for DynamoDB data-plane answers that are plain JSON already."""
    if (
        serializer.service_model.service_name == "dynamodb"
        and serializer.operation_name in DATA_PLANE_OPERATIONS
        and isinstance(result, dict)
        and (_known_plain(result) or _plain_json(result))
    ):
        response["body"] = serializer._serialize_body(result)
        response["headers"]["Content-Type"] = serializer._get_protocol_specific_content_type()
        return response
    return original_serialize_result(serializer, response, result)


def _plain_json(value: Any) -> bool:
    """Only dicts of strings, lists, numbers, booleans and non-null values (what the shape walk leaves unchanged)."""
    if isinstance(value, dict):
        return all(isinstance(key, str) and item is not None and _plain_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(item is not None and _plain_json(item) for item in value)
    return isinstance(value, (str, bool, int, float))


def serialize_to_request(serializer: Any, parameters: dict[str, Any], operation_model: Any) -> dict[str, Any]:
    """botocore's serialisation of a request, short-circuited for a DynamoDB data-plane request without a binary
    value: no member of those requests has a name of its own on the wire or a timestamp, so the shape walk copies
    such a request as it is, and its body is `json.dumps` of the parameters. A request that botocore's validation
    has just passed needs only a look for binary values (`"B"` and `"BS"` keys) in that text; one it did not
    validate must be made only of dicts, lists, strings, integers and booleans. Anything else is walked."""
    if operation_model.service_model.service_name == "dynamodb" and operation_model.name in DATA_PLANE_OPERATIONS:
        body = None
        if getattr(_validated_requests, "current", None) is parameters:
            try:
                text = json.dumps(parameters)
            except (TypeError, ValueError):  # bytes of a binary value, a file-like object
                text = '"B": '
            if '"B": ' not in text and '"BS": ' not in text:
                body = text
        elif _plain_request(parameters):
            body = json.dumps(parameters)
        if body is not None:
            serialized: dict[str, Any] = original_serialize_to_request(serializer, {}, operation_model)
            serialized["body"] = body.encode(serializer.DEFAULT_ENCODING)
            return serialized
    return original_serialize_to_request(serializer, parameters, operation_model)  # type: ignore[no-any-return]


_validated_requests = threading.local()  # the parameters botocore's validation has just passed, in this thread


def validate_then_serialize(decorator: Any, parameters: dict[str, Any], operation_model: Any) -> Any:
    """botocore's validation and serialisation of a request; the serialisation knows the request was validated
    (validation raises before it otherwise)."""
    input_shape = operation_model.input_shape
    if input_shape is not None:
        report = decorator._param_validator.validate(parameters, input_shape)
        if report.has_errors():
            raise ParamValidationError(report=report.generate_report())
    _validated_requests.current = parameters
    try:
        return decorator._serializer.serialize_to_request(parameters, operation_model)
    finally:
        _validated_requests.current = None


def _plain_request(value: Any) -> bool:
    """Dicts with string keys other than `B` and `BS` (binary attribute values, base64-encoded by the walk), lists
    and tuples, of strings, integers and booleans (a leaf is checked in its container's loop: most values are)."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str or key == "B" or key == "BS":
                return False
        members: Any = value.values()
    elif kind is list or kind is tuple:
        members = value
    else:
        return kind is str or kind is int or kind is bool
    for held in members:
        held_kind = type(held)
        if held_kind is not str and held_kind is not int and held_kind is not bool and not _plain_request(held):
            return False
    return True


@functools.cache
def _data_plane_answer_members() -> dict[str, frozenset[str]]:
    """The members of each DynamoDB data-plane answer, by the name of its shape (e.g. `GetItemOutput`)."""
    model = get_session().get_service_model("dynamodb")
    shapes = (model.operation_model(operation).output_shape for operation in DATA_PLANE_OPERATIONS)
    return {shape.name: frozenset(shape.members) for shape in shapes}


def handle_json_body(parser: Any, raw_body: bytes, shape: Any) -> Any:
    """botocore's parse of a JSON answer, short-circuited for a DynamoDB data-plane answer that is plain JSON: its
    shape walk only decodes binary values (`"B"`, `"BS"`) and drops nulls and members it does not know, so an
    answer without any of those is what `json.loads` gives. Anything else (and every other service) is walked."""
    members = _data_plane_answer_members().get(shape.name)
    if members is not None and shape.members.keys() == members and raw_body:
        if not any(marker in raw_body for marker in WALKED_BY_SHAPE):
            parsed = json.loads(raw_body)
            if type(parsed) is dict and parsed.keys() <= members:
                return parsed
    return original_handle_json_body(parser, raw_body, shape)


def parse_parameters(handler: Any, request: Any) -> None:
    """moto's request parsing, short-circuited for DynamoDB data-plane requests that are plain JSON already: the
    shape walk only drops nulls and members botocore never sends, decodes binary values and converts numbers.
    Requests with a null, a float or a `"B"`/`"BS"` anywhere in their text (binary values, or a map key of that
    name) are parsed by moto."""
    body = request.data or b"{}"
    body = body.encode() if isinstance(body, str) else body
    if handler._get_action() in DATA_PLANE_OPERATIONS and not any(marker in body for marker in WALKED_BY_SHAPE):
        try:
            params = json.loads(body, parse_float=_parsed_by_moto, parse_constant=_parsed_by_moto)
        except ValueError:
            params = None
        if isinstance(params, dict):
            handler.params = params
            return
    original_parse_parameters(handler, request)


def _parsed_by_moto(text: str) -> Any:
    raise ValueError(f"{text} is left to moto's parser")


class _RootRecordingParser(ConditionExpressionParser):
    """moto's parser, keeping the syntax tree it builds its condition from (the root node, before any value is read)."""

    root: Any = None

    def _make_op_condition(self, node: Any) -> Any:
        if self.root is None:
            self.root = node
        return super()._make_op_condition(node)


_values_in_effect = threading.local()  # `stack`: the values of the conditions being evaluated on this thread


class _ValueSlot(AttributeValue):
    """A value placeholder (`:name`) of a kept condition: its type and value are those of the call evaluating the
    condition (`_WithValues`), read as moto's AttributeValue reads them from its value."""

    def __init__(self, placeholder: str) -> None:  # holds no value of its own
        self.placeholder = placeholder

    @property
    def type(self) -> str:  # type: ignore[override]
        return next(iter(_values_in_effect.stack[-1][self.placeholder]))

    @property
    def value(self) -> Any:  # type: ignore[override]
        held = _values_in_effect.stack[-1][self.placeholder]
        return held[next(iter(held))]


class _SlotParser(ConditionExpressionParser):
    """moto's condition builder, leaving each value placeholder as a slot."""

    def _make_operand(self, node: Any) -> Any:
        if node.kind == self.Kind.EXPRESSION_ATTRIBUTE_VALUE:
            return _ValueSlot(node.text)
        return super()._make_operand(node)


class _WithValues:
    """A kept condition with value slots, for one call's values. A condition is evaluated once (on the item a write
    names), through its slots; one evaluated again (a filter, item after item) is built with the values, as moto
    builds it, where reading a value costs no lookup."""

    def __init__(self, with_slots: Any, values: dict[str, Any], build: Callable[[], Any]) -> None:
        self.with_slots, self.values, self.build = with_slots, values, build
        self.built: Any = None

    def expr(self, item: Item | None) -> Any:
        if self.built is not None:
            return self.built.expr(item)
        if self.with_slots is None:
            self.built = self.build()
            return self.built.expr(item)
        stack = _values_in_effect.__dict__.setdefault("stack", [])
        stack.append(self.values)
        try:
            return self.with_slots.expr(item)
        finally:
            stack.pop()
            self.with_slots = None  # evaluated: the next evaluation builds


@dataclass(frozen=True)
class _ParsedExpression:
    """One expression's syntax tree as moto's parser left it, and the names and placeholders it found."""

    root: Any
    names_found: tuple[str, ...]
    values_found: tuple[str, ...]
    holding_values: frozenset[int]  # ids of the tree's nodes with a value placeholder in or under them
    checks_values: bool  # building the condition checks its values (BETWEEN refuses a NULL bound)
    condition: Any  # the condition the parse built, when no value is held (the same for every call); else None
    with_slots: Any  # the condition with value slots, when values are held but building does not check them

    @classmethod
    def of(cls, parser: _RootRecordingParser, condition: Any, arguments: tuple[Any, ...]) -> _ParsedExpression:
        holding: set[int] = set()
        kinds: set[str] = set()

        def collect(node: Any) -> bool:
            kinds.add(node.kind)
            below = [collect(child) for child in node.children]
            if node.kind == ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE or any(below):
                holding.add(id(node))
                return True
            return False

        if parser.root is not None:
            collect(parser.root)
        checks_values = ConditionExpressionParser.Kind.BETWEEN in kinds
        with_slots = _SlotParser(*arguments)._make_op_condition(parser.root) if holding and not checks_values else None
        return cls(parser.root, tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found),
                   frozenset(holding), checks_values, None if holding else condition, with_slots)  # fmt: skip

    def bound(self, values: dict[str, Any]) -> Any:
        """The syntax tree with each value placeholder (`:name`) holding this call's value (the rest shared)."""
        node_type = ConditionExpressionParser.Node

        def bind(node: Any) -> Any:
            if id(node) not in self.holding_values:
                return node
            if node.kind == ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE:
                return node_type(node.nonterminal, node.kind, node.text, values[node.text], node.children)
            return node_type(node.nonterminal, node.kind, node.text, node.value, [bind(child) for child in node.children])

        return bind(self.root)


class _ParserForValues:
    """What moto's parser gives for one call (its condition and the names and placeholders found), from the tree
    kept for the expression: moto's parse reads values only to place them in the tree, so it is run once per text,
    names and placeholders, and each call's values are placed in a copy of its tree."""

    def __init__(self, cache: _ParserCache, key: _ParseKey, arguments: tuple[Any, ...]) -> None:
        self._cache, self._key, self._arguments = cache, key, arguments
        self.expr_attr_names_found: list[str] = []
        self.expr_attr_values_found: list[str] = []
        self.for_validation = False  # the condition is dropped: build it only where building checks the values

    def parse(self) -> Any:
        expression, names, values = self._arguments
        parsed = self._cache.parsed(self._key, self._arguments)
        self.expr_attr_names_found, self.expr_attr_values_found = list(parsed.names_found), list(parsed.values_found)
        if parsed.root is None:  # an empty expression: moto's parser returns its default condition
            return original_create_parser(expression, names, values).parse()
        if self.for_validation and not parsed.checks_values:
            return None
        if parsed.condition is not None:  # no value held: the same condition for every call (conditions are only read)
            return parsed.condition
        def build() -> Any:
            return ConditionExpressionParser(expression, names, values)._make_op_condition(parsed.bound(values or {}))

        return build() if parsed.with_slots is None else _WithValues(parsed.with_slots, values or {}, build)


class _Kept(Generic[K, V]):
    """Results by key, made once each, up to PARSED_EXPRESSIONS_KEPT of them (the oldest made is dropped first; a
    making that raises keeps nothing, so it raises again next time). Thread-safe: a lookup is one dict read."""

    def __init__(self) -> None:
        self._results: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        result = self._results.get(key, _NOT_KEPT)
        if result is not _NOT_KEPT:
            return cast(V, result)
        made = make()
        with self._lock:
            self._results[key] = made
            if len(self._results) > PARSED_EXPRESSIONS_KEPT:
                del self._results[next(iter(self._results))]
        return made


_NOT_KEPT = object()


class _ParserCache:
    def __init__(self) -> None:
        self._parsed: _Kept[_ParseKey, _ParsedExpression] = _Kept()

    def parser(self, expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None) -> Any:
        if not expression:
            return original_create_parser(expression, names, values)
        key = (expression, tuple(sorted(names.items())) if names is not None else None,
               tuple(sorted(values)) if values is not None else None)
        return _ParserForValues(self, key, (expression, names, values))

    def validating_parser(self, expression: str | None, names: dict[str, str] | None, values: dict[str, Any] | None) -> Any:
        """The parser moto's request handlers use: they call `parse` only for its errors and the names and
        placeholders it finds, and drop the condition it returns."""
        parser = self.parser(expression, names, values)
        if isinstance(parser, _ParserForValues):
            parser.for_validation = True
        return parser

    def parsed(self, key: _ParseKey, arguments: tuple[Any, ...]) -> _ParsedExpression:
        def parse() -> _ParsedExpression:
            parser = _RootRecordingParser(*arguments)
            condition = parser.parse()  # raises what moto raises for this expression (nothing is kept then)
            return _ParsedExpression.of(parser, condition, arguments)

        return self._parsed.get(key, parse)


class _UpdateExpressionCache:
    """moto's update expression parse, once per text: the tree is only read (request validation) or deep-copied
    before it is changed (the update's validator), so one tree serves every request with that text."""

    def __init__(self) -> None:
        self._trees: _Kept[str, Any] = _Kept()

    def make(self, expression: str) -> Any:
        # raises what moto raises (nothing is kept then)
        return self._trees.get(expression, lambda: original_make_update_expression(expression))


class _NotAPlainTree(Exception):
    """A syntax tree holding more than nodes, names, numbers and flags: copied by `copy.deepcopy`."""


def _copied_tree(node: Any, parent: Any = None) -> Any:
    """A copy of an update expression's syntax tree, node by node (children copied, names and numbers shared,
    parents pointing into the copy), as `copy.deepcopy` makes it for a tree of moto's nodes."""
    if node.__dict__.keys() != {"type", "children", "parent"}:
        raise _NotAPlainTree
    copied = object.__new__(type(node))
    copied.type, copied.parent = node.type, parent
    if node.children is None:
        copied.children = None
        return copied
    children = []
    for child in node.children:
        if isinstance(child, Node):
            child = _copied_tree(child, copied)
        elif type(child) not in (str, int, bool):
            raise _NotAPlainTree
        children.append(child)
    copied.children = children
    return copied


def _validator_copy(value: Any, memo: Any = None) -> Any:
    """The update validator's copy of the (kept) syntax tree it is about to change."""
    if isinstance(value, Node) and value.parent is None and memo is None:
        try:
            return _copied_tree(value)
        except _NotAPlainTree:
            pass
    return copy.deepcopy(value, memo)


def _node_types_processed(traverser: Any) -> tuple[type, ...]:
    """Which node types an update validator's pass processes: the keys of its processing map, the same for every
    instance of its class (moto rebuilds the map for every node of every pass)."""
    types = NODE_TYPES_PROCESSED.get(type(traverser))
    if types is None:
        types = NODE_TYPES_PROCESSED[type(traverser)] = original_nodes_to_be_processed(traverser)
    return types


_KIND_FOR_PASS: dict[tuple[type, type], tuple[bool, bool]] = {}  # (pass, type) -> (a node?, processed by the pass?)


def _traverse_node_recursively(traverser: Any, node: Any, child_id: int = -1) -> Any:
    """moto's depth-first pass over an update expression's tree, children before their parent, each node the pass
    processes replaced by what its processor returns; whether a node is a node, and whether this pass processes
    its type, are worked out once per type (moto asks `isinstance` of its abstract node classes at every node)."""
    key = (type(traverser), type(node))
    kind = _KIND_FOR_PASS.get(key)
    if kind is None:
        kind = _KIND_FOR_PASS[key] = (isinstance(node, Node), isinstance(node, traverser.nodes_to_be_processed()))
    is_node, processed = kind
    if not is_node:
        return node
    parent_node = node.parent
    if node.children is not None:
        for position, child_node in enumerate(node.children):
            traverser.pre_processing_of_child(node, position)
            traverser.traverse_node_recursively(child_node, position)
    if processed:
        node = traverser.process(node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


def _verify_action_counts(validator: Any, node: Any) -> Any:
    """moto's check that an update has at most one ADD, one REMOVE and one SET clause, made for every expression
    node of the tree; each node's counts come from its children's, kept for the pass (moto searches each node's
    whole subtree again, once per clause type)."""
    counts: dict[tuple[int, type], int] = validator.__dict__.setdefault("_clause_counts", {})

    def clauses(under: Any, clause_type: type) -> int:
        key = (id(under), clause_type)
        if key not in counts:
            counts[key] = sum(
                1 if type(child) is clause_type
                else clauses(child, clause_type) if isinstance(child, (Expression, UpdateExpressionFunction))
                else 0
                for child in under.children or []
            )  # fmt: skip
        return counts[key]

    for clause_type, name in ((UpdateExpressionAddClause, "ADD"), (UpdateExpressionRemoveClause, "REMOVE"),
                              (UpdateExpressionSetClause, "SET")):  # fmt: skip
        if clauses(node, clause_type) > 1:
            raise TooManyClauses(name)
    return node


@dataclass(frozen=True)
class _TopLevelAction:
    """One action of a plain update expression: SET a top-level attribute to a value placeholder, ADD a value
    placeholder to one, or REMOVE one. `element` is the path's text as written (a name or a `#placeholder`)."""

    kind: type  # SetExecutor, AddExecutor or RemoveExecutor
    element: str
    placeholder: bool  # whether `element` is an expression attribute name
    value: str | None  # the value placeholder (SET and ADD)


_ACTION_KINDS = {UpdateExpressionSetAction: SetExecutor, UpdateExpressionAddAction: AddExecutor,
                 UpdateExpressionRemoveAction: RemoveExecutor}  # fmt: skip
_CLAUSE_TYPES = (UpdateExpressionSetClause, UpdateExpressionAddClause, UpdateExpressionRemoveClause)


def _top_level_element(path: Any) -> tuple[str, bool] | None:
    """(text, is a placeholder) of a path naming one top-level attribute; None for any other path."""
    if type(path) is not UpdateExpressionPath or len(path.children) != 1:
        return None
    element = path.children[0]
    if type(element) not in (ExpressionAttribute, ExpressionAttributeName):
        return None
    return element.children[0], type(element) is ExpressionAttributeName


def _plain_actions(tree: Any) -> tuple[_TopLevelAction, ...] | None:
    """The actions of an update expression made only of `SET name = :value`, `ADD name :value` and `REMOVE name`
    on top-level attributes, at most one clause of each kind, in the order moto executes them (its normalised
    tree); None for any other expression, which moto validates and executes itself."""
    clauses: list[type] = []

    def count_clauses(node: Any) -> bool:
        for child in node.children:
            if type(child) is UpdateExpression:
                if not count_clauses(child):
                    return False
            elif type(child) in _CLAUSE_TYPES:
                clauses.append(type(child))
            else:
                return False
        return True

    if type(tree) is not UpdateExpression or not count_clauses(tree) or len(clauses) != len(set(clauses)):
        return None
    try:
        normalised = _copied_tree(tree)
    except _NotAPlainTree:
        return None
    normalised.normalize()
    actions = []
    for action in normalised.children:
        kind = _ACTION_KINDS.get(type(action))
        element = _top_level_element(action.children[0]) if kind else None
        if kind is None or element is None:
            return None
        value = None
        if kind is not RemoveExecutor:
            operand = action.children[1]
            if kind is SetExecutor:
                if type(operand) is not UpdateExpressionValue or len(operand.children) != 1:
                    return None
                operand = operand.children[0]
            if type(operand) is not ExpressionAttributeValue:
                return None
            value = operand.children[0]
        actions.append(_TopLevelAction(kind, *element, value))
    return tuple(actions)


class _PlainActionsKept:
    """`_plain_actions` of each kept syntax tree, once per tree (trees are kept per expression text)."""

    def __init__(self) -> None:
        self._actions: _Kept[int, tuple[Any, tuple[_TopLevelAction, ...] | None]] = _Kept()

    def of(self, tree: Any) -> tuple[_TopLevelAction, ...] | None:
        kept_tree, actions = self._actions.get(id(tree), lambda: (tree, _plain_actions(tree)))
        if kept_tree is not tree:  # another tree at the address of one no longer kept
            return _plain_actions(tree)
        return actions


_PLAIN_ACTIONS = _PlainActionsKept()


@dataclass
class _DirectUpdate:
    """A plain update expression, validated as moto's ten passes would find it valid: its actions with the
    attribute names resolved and the values made, applied by `_execute` without moto's tree."""

    steps: list[tuple[type, str, DynamoType | None]]

    def normalize(self) -> None:
        """Already in moto's order."""


class _DirectUpdateValidator(update_validators.UpdateExpressionValidator):  # type: ignore[misc]
    """moto's update validator; for a plain expression (`_plain_actions`) whose checks all pass, the checks are
    made directly and the update applied without copying and walking the syntax tree ten times. Whatever one of
    moto's passes would refuse (two clauses of a kind, an attribute named twice or a key attribute, a placeholder
    not given, an index key attribute set, an ADD of another type than the attribute's) goes through moto's passes,
    so the error is moto's own."""

    def __init__(self, expression: Any, expression_attribute_names: Any, expression_attribute_values: Any,
                 item: Item, table: Table) -> None:  # fmt: skip
        self.expression = expression
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table

    def validate(self) -> Any:
        actions = _PLAIN_ACTIONS.of(self.expression)
        steps = None if actions is None else self._direct_steps(actions)
        if steps is not None:
            return _DirectUpdate(steps)
        # moto's validator copies the tree when it is made: made only here, when its passes are needed
        super().__init__(self.expression, self.expression_attribute_names, self.expression_attribute_values,
                         self.item, self.table)  # fmt: skip
        return super().validate()

    def _direct_steps(self, actions: tuple[_TopLevelAction, ...]) -> list[tuple[type, str, DynamoType | None]] | None:
        names = self.expression_attribute_names or {}
        values = self.expression_attribute_values or {}
        index_keys = set(self.table.attribute_keys) | {definition["AttributeName"] for definition in self.table.attr}
        steps: list[tuple[type, str, DynamoType | None]] = []
        for action in actions:
            if action.placeholder and action.element not in names:
                return None
            name = names[action.element] if action.placeholder else action.element
            if name in self.table.table_key_attrs or (action.kind is SetExecutor and action.element in index_keys):
                return None
            if not action.placeholder and name.upper() in RESERVED_KEYWORDS:
                return None
            value = None
            if action.value is not None:
                if action.value not in values:
                    return None
                value = typed(values[action.value])
                if action.kind is AddExecutor and not self._adds_directly(name, value):
                    return None
            steps.append((action.kind, name, value))
        if len({name for _, name, _ in steps}) != len(steps):
            return None
        return steps

    def _adds_directly(self, name: str, value: DynamoType) -> bool:
        """An ADD moto accepts: a number to a number, or a non-empty set to a set of its type (or to nothing)."""
        current = self.item.attrs.get(name)
        if value.is_set():
            return bool(value.value) and (current is None or current.type == value.type)
        return value.type == "N" and (current is None or current.type == "N")


def _apply_directly(item: Item, update: _DirectUpdate) -> None:
    """A validated plain update applied as moto's executors apply it, with the item's size on the running total."""
    tally = _size_tallies.tally
    for kind, name, value in update.steps:
        if kind is SetExecutor:
            item.attrs[name] = value
        elif kind is RemoveExecutor:
            item.attrs.pop(name, None)
            tally.total = None
        elif value is not None and value.is_set():
            current = item.attrs.get(name)
            if current is None:
                current = item.attrs[name] = DynamoType({value.type: []})
            for member in value.value:
                if member not in current.value:
                    current.value.append(member)
            tally.total = None
        else:
            item.attrs[name] = item.attrs.get(name, DynamoType({"N": "0"})) + value


def _item_init(item: Item, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
    """moto's Item constructor, with its size limit checked on a running total: moto re-sums every attribute set
    so far for each one it sets (quadratic in attributes). Sizes are never negative, so the running total passes
    the limit at the attribute moto raises at."""
    item.hash_key, item.range_key = hash_key, range_key
    item.attrs = LimitedSizeDict()
    total = 0
    for key, value in attrs.items():
        attribute = typed(value)
        total += bytesize(key) + attribute.size()
        if total > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        dict.__setitem__(item.attrs, key, attribute)


def typed(value: Any) -> DynamoType:
    """`DynamoType(value)` of an attribute value (`{"S": "x"}`, maps and lists of them, at any depth), built
    directly: moto's constructor makes two lists to read the value's one type and asks its type twice, at every
    node. Anything else (a value of other than one type, a DynamoType) goes through moto's constructor."""
    if type(value) is not dict or len(value) != 1:
        return DynamoType(value)
    ((kind, held),) = value.items()
    if kind == "L":
        held = [typed(element) for element in held]
    elif kind == "M":
        held = {name: typed(element) for name, element in held.items()}
    result = DynamoType.__new__(DynamoType)
    result.type, result.value = kind, held
    return result


def _validate_key_sizes(table: Table, item_attrs: dict[str, Any]) -> None:
    """moto's check of the sizes of an item's key values (the table's and its indexes'), each typed directly."""
    for hash_name in table.hash_key_names:
        hash_value = item_attrs.get(hash_name)
        if hash_value and _size(typed(hash_value)) > HASH_KEY_MAX_LENGTH:
            raise HashKeyTooLong
    for range_name in table.range_key_names:
        range_value = item_attrs.get(range_name)
        if range_value and _size(typed(range_value)) > RANGE_KEY_MAX_LENGTH:
            raise RangeKeyTooLong


def _backend_once_per_request() -> functools.cached_property[Any]:
    """moto's `DynamoHandler.dynamodb_backend` (the backend of the request's account and region), looked up once
    per request: moto makes a handler per request, and its transaction checks look the backend up for every item."""
    kept = functools.cached_property(cast(Callable[[Any], Any], original_dynamodb_backend.fget))
    kept.__set_name__(dynamodb_responses.DynamoHandler, "dynamodb_backend")
    return kept


def _project(item: Item, projection_expressions: list[list[str]]) -> Item:
    """moto's projection, converting only the named attributes when every path is one top-level name: moto
    converts the whole item to plain values once per path (a profile projected to ten names, ten times)."""
    if not all(len(path) == 1 and not LIST_ELEMENT.match(path[0]) for path in projection_expressions):
        return original_project(item, projection_expressions)  # type: ignore[no-any-return]
    named = {name: item.attrs[name] for (name,) in projection_expressions if name in item.attrs}
    if all(_converts_back_unchanged(value) for value in named.values()):  # the same values, copied directly
        projected = cast(Item, Item.__new__(Item))
        projected.hash_key, projected.range_key = item.hash_key, item.range_key
        projected.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
        for name, value in named.items():
            dict.__setitem__(projected.attrs, name, _copied(value, {}))
        return projected
    result: dict[str, Any] = {}
    for (name,) in projection_expressions:
        if name in item.attrs:
            merge_dicts(result, {name: deserializer.deserialize(item.attrs[name].to_regular_json())})
    return Item(hash_key=item.hash_key, range_key=item.range_key, attrs=serializer.serialize(result)["M"])


def _converts_back_unchanged(value: Any) -> bool:
    """Whether moto's projection, which converts a value to plain Python with boto3's deserializer and back, gives
    this value back as it is: texts, booleans, nulls and numbers in their canonical text, in lists and maps (sets
    come back in another order, binary values as another type, numbers as their canonical text)."""
    if type(value) is not DynamoType:
        return False
    kind, held = value.type, value.value
    if kind == "S":
        return type(held) is str
    if kind == "N":
        try:
            return type(held) is str and str(DYNAMODB_CONTEXT.create_decimal(held)) == held
        except ArithmeticError:  # beyond DynamoDB's precision or range: moto's conversion says what it does
            return False
    if kind == "BOOL":
        return type(held) is bool
    if kind == "NULL":
        return held is True
    if kind == "L":
        return all(_converts_back_unchanged(element) for element in held)
    if kind == "M":
        return all(_converts_back_unchanged(element) for element in held.values())
    return False


_query_candidates = threading.local()


def _all_items(table: Table) -> list[Item]:
    """moto's sorted list of a table's items, or, inside a query of that table, of the items its hash-key
    condition can match (in the same order: the query keeps only those, in the order of this list)."""
    candidates = getattr(_query_candidates, "items", None)
    if candidates is not None and candidates[0] is table:
        return _sorted_by_key(candidates[1])
    return _sorted_by_key([item for under_key in table.items.values() for item in _items_under(table, under_key)])


_scan_orders_kept = threading.Lock()
SCAN_ORDER = "_cdp_scan_order"  # the attribute a table keeps its _ScanOrder in, until an item is put or deleted


class _ScanOrder:
    """A table's items in moto's order, with their keys' values and, per scan segment, its items: kept on the
    table until an item is put or deleted (an update changes an item in place, never its key), so the pages of a
    scan do not each sort the whole table and walk it from the start to their start key."""

    def __init__(self, table: Table) -> None:
        self.items = _sorted_by_key([item for under_key in table.items.values() for item in _items_under(table, under_key)])
        kinds = {(item.hash_key.type, item.range_key.type if item.range_key else None) for item in self.items}
        self.keys = [_key_values(item) for item in self.items] if len(kinds) == 1 else None  # mixed: no shortcut
        self.segments: dict[tuple[int, int], list[int]] = {}
        self.lock = threading.Lock()

    def __deepcopy__(self, memo: Any) -> None:
        """Not copied: a copy of the table (moto's backup of it for a transaction) sorts its own items when scanned."""
        return None

    @classmethod
    def of(cls, table: Table) -> _ScanOrder:
        with _scan_orders_kept:
            order = table.__dict__.get(SCAN_ORDER)
            if order is None:
                order = table.__dict__[SCAN_ORDER] = cls(table)
            return order  # type: ignore[no-any-return]

    def page(self, segments: tuple[int | None, int | None], start_key: dict[str, Any] | None, key_names: tuple[str, str | None]) -> list[Item]:
        """The items of the segment (all when not segmented) at or after the start key."""
        positions = range(len(self.items)) if segments == (None, None) else self._segment(segments)  # type: ignore[arg-type]
        first = 0
        if start_key is not None and self.keys is not None and all(name in start_key for name in key_names if name):
            hash_name, range_name = key_names
            start = (DynamoType(start_key[hash_name]).cast_value,
                     DynamoType(start_key[range_name]).cast_value if range_name else None)  # fmt: skip
            first = bisect_left(positions, start, key=lambda position: self.keys[position])  # type: ignore[index]
        return [self.items[position] for position in positions[first:]]

    def _segment(self, segments: tuple[int, int]) -> list[int]:
        with self.lock:
            if segments not in self.segments:
                self.segments[segments] = [n for n, item in enumerate(self.items) if item.is_within_segment(segments)]
            return self.segments[segments]


def _key_values(item: Item) -> tuple[Any, Any]:
    return item.hash_key.cast_value, item.range_key.cast_value if item.range_key else None


def forget_scan_order(table: Table) -> None:
    """The table's items have changed: its next scan sorts them again (after the change, under the lock an order
    is built under, so an order built while the change was landing is not kept)."""
    with _scan_orders_kept:
        table.__dict__.pop(SCAN_ORDER, None)


def _put_item(table: Table, *arguments: Any, **options: Any) -> Any:
    try:
        return original_put_item(table, *arguments, **options)
    finally:
        forget_scan_order(table)


def _delete_item(table: Table, *arguments: Any, **options: Any) -> Any:
    try:
        return original_delete_item(table, *arguments, **options)
    finally:
        forget_scan_order(table)


def _scan(table: Table, *arguments: Any, **options: Any) -> Any:
    """moto's scan of a table (not an index), each page starting from its start key in the kept order."""
    request = SCAN_SIGNATURE.bind(table, *arguments, **options)
    request.apply_defaults()
    if request.arguments["index_name"]:
        return original_scan(table, *arguments, **options)
    return _scan_page(table, **{name: value for name, value in request.arguments.items() if name != "self"})


def _scan_page(
    table: Table,
    filters: dict[str, Any],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    filter_expression: Any,
    index_name: None,
    consistent_read: bool,
    projection_expression: list[list[str]] | None,
    segments: tuple[None, None] | tuple[int, int],
) -> tuple[list[Item], int, dict[str, Any] | None]:
    """moto's page of a table scan (its loop, limits and last key as moto has them), copying only the items the
    filter expression keeps and none when a projection makes new ones: moto copies every item it scans, a profile
    item thousands of values deep, before filtering most of them out."""
    taken = 0  # items moto would have put in its results before applying the filter expression
    last_taken: Item | None = None
    results: list[Item] = []
    result_size = scanned_count = 0
    last_evaluated_key = None
    previous_page_end = exclusive_start_key  # None once the previous page's items are behind
    hash_attrs, range_attrs = [table.hash_key_attr], [table.range_key_attr]
    key_names = (table.hash_key_attr, table.range_key_attr)
    for item in _ScanOrder.of(table).page(segments, exclusive_start_key, key_names):  # the segment's, from the start key
        if previous_page_end is not None:
            if table._item_comes_before_dct(item, previous_page_end, hash_attrs, range_attrs, True):
                continue
            previous_page_end = None
        size = item.size()  # walks the whole item: once, not again when it is taken
        if taken == limit or (result_size + size) > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(cast(Item, last_taken), index_name)
            break
        if _passes_filters(item, filters):
            taken += 1
            last_taken = item
            result_size += size
            if filter_expression is None or filter_expression.expr(item):
                results.append(item if projection_expression else copy.deepcopy(item))
        scanned_count += 1
    if projection_expression:
        results = [item.project(projection_expression) for item in results]
    return results, scanned_count, last_evaluated_key


def _passes_filters(item: Item, filters: dict[str, Any]) -> bool:
    """moto's test of an item against a scan's legacy ScanFilter conditions."""
    for attribute_name, (comparison_operator, comparison_objs) in filters.items():
        attribute = item.attrs.get(attribute_name)
        if attribute:
            if not attribute.compare(comparison_operator, comparison_objs):
                return False
        elif comparison_operator != "NULL":
            return False
    return True


def _sorted_by_key(items: list[Item]) -> list[Item]:
    """Items in moto's order (by hash key, then range key), comparing the keys' values once each: moto's sort
    compares key objects whose value is worked out again at every comparison. Keys of one type compare as their
    values do; keys of mixed types are sorted as moto sorts them."""
    if len({(item.hash_key.type, item.range_key.type if item.range_key else None) for item in items}) > 1:
        return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)
    return sorted(items, key=lambda x: (x.hash_key.cast_value, x.range_key.cast_value) if x.range_key else x.hash_key.cast_value)


def _hash_key_candidates(table: Table, hash_key: Any, index_name: str | None, conditions: Any) -> list[Item] | None:
    """The items a query's hash-key condition can match, found without sorting the table (None: all of them).
    On the table, the items under the hash key (moto keys them by a value equal to each item's hash key); on an
    index, the items whose hash-key attributes hold a value of the same type (and the same text, for strings),
    which moto then checks for equality itself."""
    if not index_name:
        if hash_key is None:
            return None
        under_key = table.items.get(hash_key)
        if under_key is None:
            return []
        return _items_under(table, under_key)
    if not conditions:
        return None
    wanted = [(name, value.type, value.value if value.type == "S" else None) for name, value in conditions]
    return [
        item
        for under_key in table.items.values()
        for item in _items_under(table, under_key)
        if all(_same_hash_value(item.attrs.get(name), kind, text) for name, kind, text in wanted)
    ]


def _items_under(table: Table, under_key: Any) -> list[Item]:
    """The items moto keeps under one hash key (by range key, when the table has one)."""
    return list(under_key.values()) if table.range_key_attr else [under_key]


def _same_hash_value(value: DynamoType | None, kind: str, text: str | None) -> bool:
    return value is not None and value.type == kind and (text is None or value.value == text)


def _query(table: Table, hash_key: Any, *arguments: Any, **options: Any) -> Any:
    """moto's query, looking only at the items its hash-key condition can match: moto sorts the whole table and
    compares every item with the condition at every query."""
    index_name = arguments[6] if len(arguments) > 6 else options.get("index_name")
    candidates = _hash_key_candidates(table, hash_key, index_name, options.get("hash_key_conditions"))
    if candidates is None:
        return original_query(table, hash_key, *arguments, **options)
    _query_candidates.items = (table, candidates)
    try:
        return original_query(table, hash_key, *arguments, **options)
    finally:
        _query_candidates.items = None


class _NoAttributes:
    """Stands for an item inside an UpdateItem answer that returns none of its attributes."""

    def to_json(self) -> dict[str, Any]:
        return {"Attributes": {}}


NO_ATTRIBUTES = _NoAttributes()
_answers_without_attributes = threading.local()
_stream_copies_unused = threading.local()


def _update_item_answer(handler: Any) -> Any:
    """moto's UpdateItem answer; with ReturnValues NONE (the default), without the deep copy of the old item and
    the old and new items' JSON that moto makes only to pick the attributes to return, all of which NONE drops:
    inside it, moto's handler sees the old and new items as items without attributes (the same answer)."""
    if handler.body.get("ReturnValues", "NONE") != "NONE":
        return original_update_item_answer(handler)
    _answers_without_attributes.active = True
    try:
        return original_update_item_answer(handler)
    finally:
        _answers_without_attributes.active = False


def _old_item_for_the_answer(item: Any, memo: Any = None) -> Any:
    """The handler's copy of the old item (its one use of `copy`)."""
    if getattr(_answers_without_attributes, "active", False):
        return None if item is None else NO_ATTRIBUTES
    return copy.deepcopy(item, memo)


def _backend_update_item(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_item(backend: Any, table_name: str, *arguments: Any, **options: Any) -> Any:
        """moto's update of an item; of a table without a stream, without the copy of the old item moto makes only
        for the stream. The item's kept size is forgotten, whether the update succeeded or not, unless the update
        summed the size it left."""
        table = backend.tables.get(table_name)
        _stream_copies_unused.active = table is not None and table.stream_shard is None
        _size_tallies.summed = None
        try:
            item = original(backend, table_name, *arguments, **options)
        finally:
            _stream_copies_unused.active = False
            _forget_size(table, arguments[0] if arguments else options.get("key"), _size_tallies.summed)
            _size_tallies.summed = None
        return NO_ATTRIBUTES if getattr(_answers_without_attributes, "active", False) else item

    return update_item


def _transaction_checks_conditions_once(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's transaction checks each item's condition and then has its put, update or delete check it again on
    the same item, unchanged in between (a transaction names an item once): the second check is left out."""

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        _conditions_checked.active = True
        try:
            original(backend, transact_items)
        finally:
            _conditions_checked.active = False

    return transact_write_items


def _without_checked_condition(original: Callable[..., Any]) -> Callable[..., Any]:
    """A backend write that, inside a transaction, skips the condition the transaction has just checked."""

    def write(backend: Any, *arguments: Any, **options: Any) -> Any:
        if getattr(_conditions_checked, "active", False):
            options["condition_expression"] = None
        return original(backend, *arguments, **options)

    return write


def _models_copy(previous: Any) -> SimpleNamespace:
    """The `copy` moto's DynamoDB models see: inside an update of a table without a stream, the stream's copy of
    the old item is the item itself (never read); anything else is copied by the `copy` they saw before (the local
    stack's transactions give one that skips tables)."""

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if getattr(_stream_copies_unused, "active", False):
            return value
        return previous.deepcopy(value, memo)

    return SimpleNamespace(deepcopy=deepcopy)


@dataclass
class _SizeTally:
    """An item's size as moto's limit counts it (every key and value, in its attributes), kept while an update
    sets attributes at its top; None when it is to be summed again. It starts from the item's kept size, if any
    (`changes`: the item's update count then)."""

    attrs: LimitedSizeDict
    total: int | None = None
    changes: int = 0


_size_tallies = threading.local()
_conditions_checked = threading.local()


def _counted_size(entry: Any) -> int:
    """One key or value of an item as moto's size limit counts it."""
    return _size(entry) if type(entry) is DynamoType else bytesize(str(entry))


def _size(value: DynamoType) -> int:
    """moto's size of an attribute value, without its copies: moto wraps every value of a map in a new DynamoType
    to measure it, which wraps every element of the lists under it again (at every level of nesting)."""
    kind, held = value.type, value.value
    if kind == "S":
        return _text_size(held)
    if kind == "N":
        return len(str(held))
    if kind in SET_TYPES:
        return sum(len(str(member)) if kind == "NS" else _text_size(member) for member in held)
    if kind == "L":
        return sum(_size(element) for element in held)
    if kind == "M":
        return sum(_text_size(name) + _size(element if type(element) is DynamoType else DynamoType(element))
                   for name, element in held.items())  # fmt: skip
    return 1 if isinstance(held, bool) else bytesize(held)


def _cast_value(value: DynamoType) -> Any:
    """moto's Python value of an attribute value (what keys hash and compare by, and conditions compare), a text's
    and a number's directly: moto asks the type up to six times first (every item lookup asks it of the key)."""
    kind = value.type
    if kind == "S":
        return value.value
    if kind == "N":
        return Decimal(value.value)
    return original_cast_value(value)


def _text_size(text: Any) -> int:
    """moto's `bytesize`: the UTF-8 length of a text (its length, when it is ASCII), or a bytes value's length."""
    return len(text) if type(text) is str and text.isascii() else bytesize(text)


def _item_size(item: Item) -> int:
    """moto's size of an item: its attribute names and values, each value measured by `_size`; kept on the item
    until an update changes it (an item changes in place only in moto's update, which counts itself on the item
    and keeps the size it summed on its way: `_forget_size`). A size measured while an update landed on another
    thread is not kept."""
    state = item.__dict__
    changes = state.get(SIZE_CHANGES, 0)
    kept = _kept_size(item)
    if kept is not None:
        return kept
    size = sum(_text_size(name) + _size(value) for name, value in item.attrs.items())
    if state.get(SIZE_CHANGES, 0) == changes:  # no update landed while it was measured (another thread's)
        state[KEPT_SIZE] = (changes, size)
    return size


def _kept_size(item: Item) -> int | None:
    """The item's kept size, if no update has changed the item since it was measured."""
    kept = item.__dict__.get(KEPT_SIZE)
    if kept is not None and kept[0] == item.__dict__.get(SIZE_CHANGES, 0):
        return cast(int, kept[1])
    return None


def key_values(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    """moto's `get_keys_value`: the key's hash and range values, typed directly (refused without the table's key
    names)."""
    if table.hash_key_attr not in key or (table.has_range_key and table.range_key_attr not in key):
        raise MockValidationException("Validation Exception")
    range_value = typed(key[table.range_key_attr]) if table.range_key_attr else None
    return typed(key[table.hash_key_attr]), range_value


def _forget_size(table: Table | None, key: Any, summed: _SizeTally | None = None) -> None:
    """The item at this key may have changed: its kept size no longer holds (measured again when next asked for),
    unless the update summed the size it left (`summed`, the tally of its expression on this item) and no other
    update landed on the item meanwhile: that size is kept."""
    if table is None or not isinstance(key, dict):
        return
    try:
        hash_value, range_value = key_values(table, key)
    except (MockValidationException, TypeError, AttributeError):  # a key moto refused: nothing was changed
        return
    stored = table.items.get(hash_value)
    if stored is not None and range_value is not None:
        stored = stored.get(range_value)
    if stored is not None:
        changes = stored.__dict__.get(SIZE_CHANGES, 0)
        stored.__dict__[SIZE_CHANGES] = changes + 1
        if summed is not None and summed.total is not None and summed.changes == changes:
            if summed.attrs is cast(Item, stored).attrs:  # the update's tally is of this item
                stored.__dict__[KEPT_SIZE] = (changes + 1, summed.total)


def _limited_setitem(attrs: LimitedSizeDict, key: str, value: Any) -> None:
    """moto's size-limited attribute set; for the item an update is changing, on the running total (moto sums the
    whole item for each attribute: its current keys and values, the replaced one included, plus the new one)."""
    tally = getattr(_size_tallies, "tally", None)
    if tally is None or tally.attrs is not attrs:
        original_limited_setitem(attrs, key, value)
        return
    if tally.total is None:
        tally.total = sum(_counted_size(name) + _counted_size(held) for name, held in attrs.items())
    added = bytesize(key) + _counted_size(value)
    if tally.total + added > ITEM_SIZE_LIMIT:
        raise ItemSizeTooLarge
    replaced = _counted_size(key) + _counted_size(attrs[key]) if key in attrs else 0
    dict.__setitem__(attrs, key, value)
    tally.total += added - replaced


def _execute(executor: Any, node: Any = None) -> None:
    """moto's execution of an update expression, keeping the item's size on a running total: an action that sets
    an attribute at the top of the item (SET, ADD of a number) changes it by what it sets; any other action may
    change a value in place (a nested path, a set's members, a removal), after which the total is summed again."""
    if node is None:
        item = executor.item
        tally = _SizeTally(item.attrs, _kept_size(item), item.__dict__.get(SIZE_CHANGES, 0))
        _size_tallies.tally = tally
        try:
            if isinstance(executor.update_ast, _DirectUpdate):
                _apply_directly(item, executor.update_ast)
            else:
                original_execute(executor)
        finally:
            _size_tallies.tally = None
            _size_tallies.summed = tally
        return
    tally = _size_tallies.tally
    try:
        original_execute(executor, node)
    except BaseException:
        tally.total = None
        raise
    action = executor.get_specific_execution(node)
    if action is not None and not _sets_the_top_only(action, node):
        tally.total = None


def _sets_the_top_only(action: type, node: Any) -> bool:
    path = node.children[0].children
    if len(path) != 1:
        return False
    return action is SetExecutor or (action is AddExecutor and action(node, {}).get_action_value().type == "N")


def _copied_item(item: Item, memo: dict[int, Any]) -> Item:
    """moto's deep copy of an item, node by node directly (moto's goes through `copy.deepcopy` for every node)."""
    copied = cast(Item, type(item).__new__(type(item)))
    memo[id(item)] = copied
    copied.hash_key = _copied(item.hash_key, memo)
    copied.range_key = _copied(item.range_key, memo)
    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    for key, value in item.attrs.items():
        dict.__setitem__(attrs, key, _copied(value, memo))
    copied.attrs = attrs
    return copied


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """moto's deep copy of an attribute value (a node shared within what is copied stays shared in the copy), the
    scalars under a list or map shared with the original, as `copy.deepcopy` shares strings: moto never changes a
    scalar's type or value once made (an update replaces it), only the members of lists, maps and sets."""
    if type(value) is not DynamoType:
        return copy.deepcopy(value, memo)
    done = memo.get(id(value))
    if done is not None:
        return done
    result = DynamoType.__new__(DynamoType)
    memo[id(value)] = result
    result.type = kind = value.type
    if kind == "L":
        result.value = [
            element if type(element) is DynamoType and element.type in SCALAR_TYPES else _copied(element, memo)
            for element in value.value
        ]
    elif kind == "M":
        result.value = {
            name: element if type(element) is DynamoType and element.type in SCALAR_TYPES else _copied(element, memo)
            for name, element in value.value.items()
        }
    elif kind in SET_TYPES:
        result.value = list(value.value)
    else:
        result.value = value.value
    return result



ATTRIBUTE_VALUE_MEMBERS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
original_validate_structure = ParamValidator._validate_structure
original_validate_map = ParamValidator._validate_map


def _passes_validation(value: Any) -> bool:
    """Whether botocore's validation finds nothing wrong with this DynamoDB AttributeValue: strings and numbers as
    `str`, sets as lists or tuples of `str`, maps with `str` names, lists, booleans, nested to any depth. False
    for anything else (binary values, a wrong type, an unknown member), which botocore then checks itself."""
    if type(value) is not dict:
        return False
    for kind, held in value.items():
        if kind in ("S", "N"):
            valid = isinstance(held, str)
        elif kind in ("BOOL", "NULL"):
            valid = isinstance(held, bool)
        elif kind in ("SS", "NS"):
            valid = isinstance(held, (list, tuple)) and all(isinstance(member, str) for member in held)
        elif kind == "M":
            valid = isinstance(held, dict) and all(
                isinstance(name, str) and _passes_validation(element) for name, element in held.items()
            )
        elif kind == "L":
            valid = isinstance(held, (list, tuple)) and all(_passes_validation(element) for element in held)
        else:
            valid = False
        if not valid:
            return False
    return True


def _is_attribute_value(shape: Any) -> bool:
    return bool(shape.name == "AttributeValue" and shape.members.keys() == ATTRIBUTE_VALUE_MEMBERS)


def _validate_structure(validator: Any, params: Any, shape: Any, errors: Any, name: str) -> None:
    """botocore's client-side check of a request structure; a DynamoDB AttributeValue that passes
    `_passes_validation` is not walked member by member (a third of a transaction's CPU time in the local stack)."""
    if _is_attribute_value(shape) and _passes_validation(params):
        return
    original_validate_structure(validator, params, shape, errors, name)


def _validate_map(validator: Any, params: Any, shape: Any, errors: Any, name: str) -> None:
    """botocore's check of a map; one of names (strings without a minimum length) to AttributeValues that all pass
    (an item, a key, expression values) is not walked entry by entry."""
    key = shape.key
    if (
        type(params) is dict
        and _is_attribute_value(shape.value)
        and key.type_name == "string"
        and not validator._shape_has_constraints(key)
        and all(isinstance(entry, str) and _passes_validation(value) for entry, value in params.items())
    ):
        return
    original_validate_map(validator, params, shape, errors, name)


@contextmanager
def faster_dynamodb() -> Iterator[None]:
    """Patch moto's DynamoDB answers and condition parsing for the duration (local stack only)."""
    import moto.dynamodb.models as dynamodb_models

    cache = _ParserCache()
    backend = dynamodb_models.DynamoDBBackend
    replacements: list[tuple[Any, str, Any]] = [  # (what, which attribute, its replacement), patched in this order
        # botocore's requests and answers, moto's answers and sizes
        (BaseJSONSerializer, "_serialize_result", serialize_result),
        (dynamodb_responses, "dynamo_to_dict", dynamo_to_dict),
        (DynamoType, "size", _size),
        (DynamoType, "cast_value", property(_cast_value)),
        (Item, "size", _item_size),
        (JSONParser, "_handle_json_body", handle_json_body),
        (JSONSerializer, "serialize_to_request", serialize_to_request),
        (ParamValidationDecorator, "serialize_to_request", validate_then_serialize),
        (ParamValidator, "_validate_structure", _validate_structure),
        (ParamValidator, "_validate_map", _validate_map),
        # condition and update expressions
        (comparisons, "create_condition_expression_parser", cache.parser),
        (dynamodb_models, "create_condition_expression_parser", cache.parser),
        (dynamodb_responses, "create_condition_expression_parser", cache.validating_parser),
        (Item, "__init__", _item_init),
        (Table, "_validate_key_sizes", _validate_key_sizes),
        (dynamodb_responses.DynamoHandler, "dynamodb_backend", _backend_once_per_request()),
        (dynamodb_responses.DynamoHandler, "parse_parameters", parse_parameters),
        (UpdateExpressionParser, "make", _UpdateExpressionCache().make),
        (DepthFirstTraverser, "nodes_to_be_processed", _node_types_processed),
        (update_validators, "deepcopy", _validator_copy),
        (DepthFirstTraverser, "traverse_node_recursively", _traverse_node_recursively),
        (update_validators.ActionCountValidator, "verify_action_counts", _verify_action_counts),
        # queries, scans, writes and their copies
        (Table, "query", _query),
        (Table, "all_items", _all_items),
        (Table, "scan", _scan),
        (Table, "put_item", _put_item),
        (Table, "delete_item", _delete_item),
        (Item, "project", _project),
        (dynamodb_responses.DynamoHandler, "update_item", _update_item_answer),
        (dynamodb_responses, "copy", SimpleNamespace(deepcopy=_old_item_for_the_answer)),
        (backend, "update_item", _without_checked_condition(_backend_update_item(backend.update_item))),
        (backend, "put_item", _without_checked_condition(backend.put_item)),
        (backend, "delete_item", _without_checked_condition(backend.delete_item)),
        (backend, "transact_write_items", _transaction_checks_conditions_once(backend.transact_write_items)),
        (dynamodb_models, "copy", _models_copy(dynamodb_models.copy)),
        (UpdateExpressionExecutor, "execute", _execute),
        (dynamodb_models, "UpdateExpressionValidator", _DirectUpdateValidator),
        (LimitedSizeDict, "__setitem__", _limited_setitem),
        (Item, "__deepcopy__", _copied_item),
        (DynamoType, "__deepcopy__", _copied),
    ]
    with ExitStack() as patches:
        for target, attribute, replacement in replacements:
            patches.enter_context(mock.patch.object(target, attribute, replacement))
        yield


@contextmanager
def faster_dispatch() -> Iterator[None]:
    """The same answers from moto's request plumbing, made faster while the stack is up:
    - moto lists a response class's methods (`inspect.getmembers`, a tenth of a small request's CPU time) for every
      request it dispatches, to see whether the action is one of them; the list is made once per class (the stack's
      patches replace methods with methods, so the names stay the same);
    - moto finds the handler of each request by matching its URL against every service's pattern, then against the
      URL patterns of the first matching service's backend, which it lists again: the handler found for a URL is
      kept (`_RequestRouter`);
    - a request id is 52 characters drawn one call each (`random.choice`): drawn in one call, from the same
      seedable generator;
    - botocore works out an operation's endpoint parameters from its request with JMESPath, once per request: a
      transaction's table names (`TransactItems[*].[... .TableName][]`) cost about a twentieth of its CPU time. The
      DynamoDB paths are read directly (`OPERATION_CONTEXT_PATHS`), with the same results."""
    from moto.core import botocore_stubber
    from moto.core import responses as core_responses

    method_names = functools.lru_cache(maxsize=None)(core_responses.method_names_from_class)
    router = _RequestRouter(botocore_stubber.BotocoreStubber.process_request)

    def process_request(stubber: Any, request: Any) -> Any:
        return router.process(stubber, request)

    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(core_responses, "method_names_from_class", method_names))
        patches.enter_context(mock.patch.object(botocore_stubber.BotocoreStubber, "process_request", process_request))
        patches.enter_context(mock.patch.object(core_responses, "gen_amzn_requestid_long", _request_id))
        patches.enter_context(mock.patch.object(EndpointRulesetResolver, "_resolve_param_as_operation_context_param",
                                                _operation_context_param))  # fmt: skip
        yield


class _RequestRouter:
    """moto's `BotocoreStubber.process_request`, with the handler found for each URL (without its query) kept."""

    def __init__(self, original: Callable[[Any, Any], Any]) -> None:
        self.original = original
        self.handler_of = functools.lru_cache(maxsize=ROUTES_KEPT)(self._find_handler)

    def process(self, stubber: Any, request: Any) -> Any:
        from moto.core.exceptions import HTTPException
        from moto.core.request import normalize_request
        from moto.core.utils import get_equivalent_url_in_aws_domain
        from moto.moto_api import recorder

        parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
        handler = self.handler_of(f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}")
        if handler is None:  # passed through, refused, or not moto's: moto says so
            return self.original(stubber, request)
        normalized_request = normalize_request(request)
        try:
            recorder._record_request(normalized_request)
            status, headers, body = handler(normalized_request, normalized_request.raw_url, normalized_request.headers)
        except HTTPException as error:
            status, headers, body = error.code, error.get_headers(), error.get_body()
        return status, headers, body

    @staticmethod
    def _find_handler(clean_url: str) -> Callable[..., Any] | None:
        """The handler moto's process_request calls for this URL, as it finds it; None where it would not call one."""
        import moto.backends as backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.base_backend import BackendDict
        from moto.core.botocore_stubber import backend_index
        from moto.core.config import passthrough_service, passthrough_url, service_whitelisted

        if passthrough_url(clean_url):
            return None
        for service, pattern in backend_index.backend_url_patterns:
            if not pattern.match(clean_url):
                continue
            if passthrough_service(service) or not service_whitelisted(service):
                return None
            backend_dict = backends.get_backend(service)  # type: ignore[call-overload]
            if isinstance(backend_dict, BackendDict):
                regions = backend_dict[DEFAULT_ACCOUNT_ID]
                backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
            else:
                backend = backend_dict["global"]
            for url, handler in backend.urls.items():
                if re.compile(url).match(clean_url):
                    return cast(Callable[..., Any], handler)
        return None


def _request_id(headers: dict[str, Any] | None = None) -> str:
    """moto's long request id (`x-amzn-requestid`): 52 letters and digits from moto's random generator."""
    from moto.moto_api._internal import mock_random

    request_id = "".join(mock_random.choices(REQUEST_ID_CHARACTERS, k=52))
    if isinstance(headers, dict):
        headers["x-amzn-requestid"] = request_id
    return request_id


def _table_names_of_transaction(request: dict[str, Any]) -> Any:
    """JMESPath's `TransactItems[*].[ConditionCheck.TableName, Put.TableName, Delete.TableName,
    Update.TableName][]`: every action's table name, in order (nulls dropped); None when there is no list."""
    items = request.get("TransactItems")
    if not isinstance(items, list):
        return None
    names = []
    for item in items:
        if isinstance(item, dict):
            for action in ("ConditionCheck", "Put", "Delete", "Update"):
                operation = item.get(action)
                name = operation.get("TableName") if isinstance(operation, dict) else None
                if name is not None:
                    names.append(name)
    return names


def _table_names_of_batch(request: dict[str, Any]) -> Any:
    """JMESPath's `keys(RequestItems)` (which refuses anything but an object)."""
    items = request.get("RequestItems")
    if not isinstance(items, dict):
        return jmespath.search("keys(RequestItems)", request)  # its own error
    return list(items)


OPERATION_CONTEXT_PATHS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "TransactItems[*].[ConditionCheck.TableName, Put.TableName, Delete.TableName, Update.TableName][]":
        _table_names_of_transaction,
    "keys(RequestItems)": _table_names_of_batch,
}  # fmt: skip


def _operation_context_param(resolver: Any, param_name: str, operation_model: Any, call_args: dict[str, Any]) -> Any:
    """botocore's value of an endpoint parameter taken from the request by a JMESPath path; the DynamoDB paths of
    OPERATION_CONTEXT_PATHS read directly."""
    parameters = operation_model.operation_context_parameters
    if param_name not in parameters:
        return None
    path = parameters[param_name]["path"]
    read = OPERATION_CONTEXT_PATHS.get(path)
    return read(call_args) if read is not None else jmespath.search(path, call_args)


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check, reading the one attribute instead of all of them (which count the queue's messages)."""
    from moto.core.utils import unix_time

    queue = backend.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time())


@contextmanager
def faster_sqs() -> Iterator[None]:
    """moto's SQS checks each received message's retention by computing every queue attribute, which counts the
    queue's messages: receiving from a queue of n messages costs n². Same answer, linear (local stack only)."""
    from moto.sqs.models import SQSBackend

    with mock.patch.object(SQSBackend, "is_message_valid_based_on_retention_period", _retained):
        yield
