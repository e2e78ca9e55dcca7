"""Checking a usage record into its row, pricing it, and the row's layout for COPY.

The rules a record must meet are written once: ``_FIELD_RULES`` (each set field by its kind, with
one predicate per kind) and ``_CROSS_RULES`` (the rules across fields, each a function of the
fields it reads). :func:`_check` applies them to one record. :func:`_check_many` is the same check
column by column for the ingest hot path: the fields it reads, by kind, are derived from
``_FIELD_RULES``, and a field of the table it does not read fails at import; it runs the same
predicates and cross-field rules row by row wherever a batch-wide shortcut does not clear a
column, and any record a rule refuses goes through :func:`_check` itself, which names each
problem.
"""

from __future__ import annotations

import math
import operator
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, repeat
from operator import add, mul
from typing import Any, cast

from asyncpg.pgproto import pgproto
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Value
from sqlalchemy import (
    Table,
)

from quarterdeck.telemetry.v1 import usage_pb2 as pb
from quarterdeck.tenancy.v1 import pricing_pb2 as tpb
from services.telemetry.batch_rows import SPAN_ID_PATTERN, TRACE_ID_PATTERN
from services.telemetry.bulk_insert import BulkTarget, encode_json
from services.telemetry.usage.models import (
    DEFAULT_NEURON_RATE_PER_1K_MICROS,
    MAX_EVENT_ID,
    MAX_LABEL,
    CostStatus,
    UsageRecord,
)
from shared.errors import FieldViolation, InvalidArgument
from shared.model_prices import ModelPrices
from shared.money import format_pico, parse_pico
from shared.pricing_math import (
    Usage,
    cache_read_savings,
    price_usage,
)

NUL = "\x00"
#: The latest time a signed 64-bit count of Unix nanoseconds can hold (in the year 2262).
MAX_UNIX_NANO = 2**63 - 1
EVENT_ID_PATTERN = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_EVENT_ID}}}")
DEFAULT_METRIC_TYPE = "usage"
DEFAULT_METRIC_NAME = "model_call"
DEFAULT_PRICING_SOURCE = "direct_api"
DEFAULT_CACHE_TTL_SECONDS = 300

#: Optional text fields copied as sent (empty → NULL), with their longest length.
_TEXT_FIELDS: tuple[tuple[str, int], ...] = (
    ("session_id", MAX_LABEL),
    ("config_id", MAX_LABEL),
    ("command_id", MAX_LABEL),
    ("unit", 64),
    ("role_name", MAX_LABEL),
    ("created_by", MAX_LABEL),
    ("event_type", MAX_LABEL),
    ("severity", 32),
    ("model_used", MAX_LABEL),
    ("provider", 64),
    ("agent_id", MAX_LABEL),
    ("agent_email", MAX_LABEL),
    ("tool_choice", 64),
    ("cache_strategy", 64),
    ("model_size_class", 32),
    ("workspace_id", MAX_LABEL),
    ("service_name", MAX_LABEL),
    ("instance_id", MAX_LABEL),
    ("location", 1000),
)
#: Counts that must not be negative: proto field → column (the same names).
_COUNT_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "tool_system_prompt_tokens",
    "tool_overhead_input_tokens",
    "web_search_requests",
    "code_exec_seconds",
    "neurons_used",
    "cache_breakpoints_used",
)
_COLUMN_NAMES = tuple(column.name for column in UsageRecord.__table__.columns)
#: A row's layout while it is checked, priced and stored: a list of its column values in the
#: table's column order (JSON columns as JSON text), as COPY takes them.
COPY_COLUMNS = _COLUMN_NAMES
#: Where each column sits in a row.
COLUMN = {name: position for position, name in enumerate(COPY_COLUMNS)}
_ROW_IN_ORDER = operator.itemgetter(*COPY_COLUMNS)
_EVENT_AT, _STATUS_AT, _TIME_AT = (
    COLUMN["event_id"],
    COLUMN["cost_status"],
    COLUMN["timestamp_unix_nano"],
)
_MODEL_AT, _PROVIDER_AT = COLUMN["model_used"], COLUMN["provider"]
_USAGE_AT = operator.itemgetter(
    *(
        COLUMN[name]
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "web_search_requests",
            "code_exec_seconds",
            "neurons_used",
        )
    )
)
Row = list[Any]


def _json_problem(value: Value) -> str | None:
    """Why a Struct value cannot be stored as JSON on both backends, or None."""
    kind = value.WhichOneof("kind")
    if kind == "number_value" and not math.isfinite(value.number_value):
        return "numbers must be finite (no NaN or Infinity)"
    if kind == "string_value" and NUL in value.string_value:
        return "must not contain NUL characters"
    if kind == "struct_value":
        if any(NUL in key for key in value.struct_value.fields):
            return "must not contain NUL characters"
        return _first_problem(value.struct_value.fields.values())
    if kind == "list_value":
        return _first_problem(value.list_value.values)
    return None


def _first_problem(values: Iterable[Value]) -> str | None:
    return next((problem for v in values if (problem := _json_problem(v))), None)


@dataclass(slots=True)
class _Checked:
    """One valid row: its column values, and what pricing needs."""

    position: int
    #: The column values in :data:`COPY_COLUMNS` order.
    row: Row
    #: Whether input_tokens includes the cache counts (TOKEN_CONVENTION_INPUT_INCLUDES_CACHED).
    includes_cached: bool
    tier: int

    def usage(self) -> Usage:
        """What tenancy's math prices; built only for rows that are priced."""
        # The getter yields the seven counts Usage takes before includes_cached.
        return Usage(*_USAGE_AT(self.row), includes_cached=self.includes_cached)  # type: ignore[misc]


_INCLUDES_CACHED = pb.TOKEN_CONVENTION_INPUT_INCLUDES_CACHED
_KNOWN_CONVENTIONS = frozenset(pb.TokenConvention.values())
#: How each field a client sets is taken in, and its longest length where it has one; fields
#: not listed are output only and ignored.
_TEXT, _COUNT, _FLAG, _MONEY, _FINITE, _SPECIAL, _IGNORED = range(7)
_OUTPUT_ONLY = (_IGNORED, 0)
_FLAG_FIELDS = ("is_batch", "is_us_only", "is_fast_mode", "is_long_context")
_FIELD_RULES: dict[str, tuple[int, int]] = {
    **{name: (_TEXT, longest) for name, longest in _TEXT_FIELDS},
    "metric_type": (_TEXT, MAX_LABEL),
    "metric_name": (_TEXT, MAX_LABEL),
    "pricing_source": (_TEXT, 64),
    **{name: (_COUNT, 0) for name in _COUNT_FIELDS},
    **{name: (_FLAG, 0) for name in _FLAG_FIELDS},
    "cost_estimate_usd": (_MONEY, 0),
    "computed_cost_usd": (_MONEY, 0),
    "subscription_monthly_usd": (_MONEY, 0),
    "metric_value": (_FINITE, 0),
    "cache_efficiency_score": (_FINITE, 0),
    **{
        name: (_SPECIAL, 0)
        for name in (
            "event_id",
            "tenant_id",
            "time",
            "metadata",
            "token_convention",
            "cache_ttl_seconds",
            "trace_id",
            "span_id",
        )
    },
}
_MONEY_COLUMNS = {
    "cost_estimate_usd": "cost_estimate_picos",
    "computed_cost_usd": "computed_cost_picos",
    "subscription_monthly_usd": "subscription_monthly_picos",
}
#: Every column's value for a record that sets nothing (the id, tenant and times come later).
_ROW_TEMPLATE: dict[str, Any] = {
    **dict.fromkeys(_COLUMN_NAMES),
    **dict.fromkeys(_COUNT_FIELDS, 0),
    **dict.fromkeys(_FLAG_FIELDS, False),
    "metric_type": DEFAULT_METRIC_TYPE,
    "metric_name": DEFAULT_METRIC_NAME,
    "metric_value": 0.0,
    # JSON columns hold JSON text from the start: encoded once per row, where it is made.
    "metadata_json": "{}",
    "cost_breakdown_json": "{}",
    "cache_efficiency_score": 0.0,
    "cache_cost_savings_picos": 0,
    "cache_ttl_seconds": DEFAULT_CACHE_TTL_SECONDS,
    "pricing_source": DEFAULT_PRICING_SOURCE,
    "neuron_cost_picos": 0,
    "neuron_rate_per_1k_micros": DEFAULT_NEURON_RATE_PER_1K_MICROS,
}


def _text_problem(value: str, longest: int) -> str | None:
    if len(value) > longest:
        return f"must be at most {longest} characters"
    if NUL in value:
        # PostgreSQL text cannot hold it: the row would fail its whole batch.
        return "must not contain NUL characters"
    return None


def _negative(value: int) -> bool:
    return value < 0


def _not_finite(value: float) -> bool:
    return not math.isfinite(value)


Problems = list[tuple[str, str]]


def _event_id_problems(tenant_id: str, event_id: str) -> Problems:
    if EVENT_ID_PATTERN.fullmatch(event_id):
        return []
    return [("event_id", f"is required: 1 to {MAX_EVENT_ID} of letters, digits and '._:-'")]


def _tenant_problems(tenant_id: str, value: str) -> Problems:
    return (
        [("tenant_id", "must be empty or the request's tenant")]
        if value not in ("", tenant_id)
        else []
    )


def _convention_problems(
    tenant_id: str, convention: int, input_tokens: int, cache_creation: int, cache_read: int
) -> Problems:
    if convention not in _KNOWN_CONVENTIONS:
        return [("token_convention", "is not a known convention")]
    if convention == pb.TOKEN_CONVENTION_UNSPECIFIED and (cache_creation or cache_read):
        return [
            (
                "token_convention",
                "is required when cache tokens are given: say whether input_tokens includes them",
            )
        ]
    if convention == _INCLUDES_CACHED and input_tokens < cache_creation + cache_read:
        return [
            (
                "input_tokens",
                "must be at least cache_creation_input_tokens + cache_read_input_tokens, which "
                "it includes under TOKEN_CONVENTION_INPUT_INCLUDES_CACHED",
            )
        ]
    return []


def _trace_problems(tenant_id: str, trace_id: str, span_id: str) -> Problems:
    problems: Problems = []
    if trace_id:
        if not TRACE_ID_PATTERN.fullmatch(trace_id) or not trace_id.strip("0"):
            problems.append(
                ("trace_id", "must be 32 lowercase hexadecimal characters, not all zeros")
            )
        if span_id and (not SPAN_ID_PATTERN.fullmatch(span_id) or not span_id.strip("0")):
            problems.append(
                ("span_id", "must be 16 lowercase hexadecimal characters, not all zeros")
            )
    elif span_id:
        problems.append(("span_id", "needs its trace_id"))
    return problems


@dataclass(frozen=True)
class _Rule:
    """A rule across fields, written once for both paths: ``problems`` takes the request's
    tenant and one record's values of ``reads`` (an unset field reads as its default) and names
    what is wrong; ``all_clear`` takes the tenant and those fields' whole columns and holds only
    when no record can break the rule (the column-wise path's batch-wide shortcut; where it
    does not hold, that path runs ``problems`` row by row)."""

    reads: tuple[str, ...]
    problems: Callable[..., Problems]
    all_clear: Callable[[str, Sequence[Sequence[Any]]], bool]


_ZERO_TRACE_ID, _ZERO_SPAN_ID = "0" * 32, "0" * 16
#: Every id of a batch at once, each followed by a newline (which no valid id holds; a newline
#: inside an id shows up in the count of lines).
_EVENT_IDS_PATTERN = re.compile(rf"(?:[A-Za-z0-9._:-]{{1,{MAX_EVENT_ID}}}\n)*")
_TRACE_IDS_PATTERN = re.compile(r"(?:[0-9a-f]{32}\n)*")
_SPAN_IDS_PATTERN = re.compile(r"(?:(?:[0-9a-f]{16})?\n)*")
_CHEAP_CONVENTIONS = frozenset({pb.TOKEN_CONVENTION_INPUT_EXCLUDES_CACHED})


def _all_lines_match(pattern: re.Pattern[str], column: Sequence[str]) -> bool:
    """Whether every value of the column matches ``pattern``'s line, in one regex pass."""
    joined = "\n".join(column) + "\n"
    return joined.count("\n") == len(column) and pattern.fullmatch(joined) is not None


def _traces_clear(tenant_id: str, columns: Sequence[Sequence[Any]]) -> bool:
    traces, spans = columns
    trace_ids, span_ids = set(traces), set(spans)
    return (trace_ids == span_ids == {""}) or (
        "" not in trace_ids
        and _ZERO_TRACE_ID not in trace_ids
        and _ZERO_SPAN_ID not in span_ids
        and _all_lines_match(_TRACE_IDS_PATTERN, traces)
        and _all_lines_match(_SPAN_IDS_PATTERN, spans)
    )


#: The rules across fields, in the order their problems are named.
_CROSS_RULES = (
    _Rule(
        ("tenant_id",),
        _tenant_problems,
        lambda tenant_id, columns: set(columns[0]) <= {"", tenant_id},
    ),
    _Rule(
        ("event_id",),
        _event_id_problems,
        lambda _, columns: _all_lines_match(_EVENT_IDS_PATTERN, columns[0]),
    ),
    _Rule(
        (
            "token_convention",
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
        ),
        _convention_problems,
        lambda _, columns: set(columns[0]) <= _CHEAP_CONVENTIONS,
    ),
    _Rule(("trace_id", "span_id"), _trace_problems, _traces_clear),
)


def _check(
    record: pb.UsageRecord,
    prefix: str,
    tenant_id: str,
    received_ns: int,
    trace_ids: tuple[str, str],
    created_at: datetime,
    row_id: uuid.UUID | None = None,
) -> tuple[Row, bool, int] | list[FieldViolation]:
    """The row's column values (cost columns still unset), or every problem it has.

    Only the fields the record sets are visited (``ListFields``), each by its kind: ingest
    pays for what a row carries, not for every column of the table.
    """
    problems: list[FieldViolation] = []

    def bad(name: str, description: str) -> None:
        problems.append(FieldViolation(f"{prefix}.{name}", description))

    row = _ROW_TEMPLATE.copy()
    occurred_ns = received_ns
    for descriptor, value in record.ListFields():
        name = descriptor.name
        kind, limit = _FIELD_RULES.get(name, _OUTPUT_ONLY)
        if kind == _TEXT:
            if problem := _text_problem(value, limit):
                bad(name, problem)
            row[name] = value
        elif kind == _COUNT:
            if _negative(value):
                bad(name, "must not be negative")
            row[name] = value
        elif kind == _FLAG:
            row[name] = value
        elif kind == _SPECIAL:
            if name == "time":
                # Not ToNanoseconds(): this is the hot path, and it is the same sum.
                occurred_ns = value.seconds * 1_000_000_000 + value.nanos
                if not 0 < occurred_ns <= MAX_UNIX_NANO:
                    bad("time", "must lie between 1970 and 2262")
            elif name == "metadata":
                problem = _first_problem([Value(struct_value=value)])
                if problem:
                    bad("metadata", problem)
                else:
                    row["metadata_json"] = encode_json(MessageToDict(value))
            elif name == "cache_ttl_seconds":
                if value < 0:
                    bad("cache_ttl_seconds", "must not be negative")
                row["cache_ttl_seconds"] = value
            # event_id, tenant_id, token_convention, trace_id and span_id: _CROSS_RULES.
        elif kind == _MONEY:
            try:
                row[_MONEY_COLUMNS[name]] = parse_pico(value, f"{prefix}.{name}")
            except InvalidArgument as exc:
                problems += exc.violations
        elif kind == _FINITE:
            if _not_finite(value):
                bad(name, "must be a finite number")
            row[name] = value
    # Rules across fields, and the fields that must be set.
    for rule in _CROSS_RULES:
        for name, description in rule.problems(
            tenant_id, *map(record.__getattribute__, rule.reads)
        ):
            bad(name, description)
    event_id, convention = record.event_id, record.token_convention
    input_tokens = row["input_tokens"]
    cache_creation = row["cache_creation_input_tokens"]
    cache_read = row["cache_read_input_tokens"]
    includes_cached = convention == _INCLUDES_CACHED
    trace_id, span_id = record.trace_id, record.span_id
    if not trace_id and not span_id:
        # Recorded inside a traced call: the row joins to the span it was recorded under.
        trace_id, span_id = trace_ids
    if problems:
        return problems

    uncached = input_tokens - (cache_creation + cache_read if includes_cached else 0)
    total_input = uncached + cache_creation + cache_read
    is_batch, is_long_context = row["is_batch"], row["is_long_context"]
    if is_batch and is_long_context:
        tier = tpb.PRICE_TIER_BATCH_LONG_CONTEXT
    elif is_batch:
        tier = tpb.PRICE_TIER_BATCH
    elif is_long_context:
        tier = tpb.PRICE_TIER_LONG_CONTEXT
    else:
        tier = tpb.PRICE_TIER_STANDARD
    row.update(
        id=row_id or uuid.uuid4(),
        tenant_id=tenant_id,
        event_id=event_id,
        timestamp_unix_nano=occurred_ns,
        created_at=created_at,
        updated_at=created_at,
        total_input_tokens=total_input,
        cache_hit_rate=cache_read / total_input if total_input else 0.0,
        cost_status=(
            CostStatus.CLIENT if row["computed_cost_picos"] is not None else CostStatus.NO_MODEL
        ),
        trace_id=trace_id or None,
        span_id=span_id or None,
    )
    return list(_ROW_IN_ORDER(row)), includes_cached, tier


# What the column-wise path reads, derived from _FIELD_RULES by kind, so a field added there is
# checked on both paths (pricing_source is read first, as its empty value has a default).
def _of_kind(kind: int) -> tuple[str, ...]:
    return tuple(name for name, (rule, _) in _FIELD_RULES.items() if rule == kind)


_LIMITED_TEXT = tuple(
    (name, _FIELD_RULES[name][1]) for name in _of_kind(_TEXT) if name != "pricing_source"
)
_FINITE_FIELDS = _of_kind(_FINITE)
#: The scalar fields the batch path reads, in this order, with one C-level getter per record.
_BATCH_FIELDS = (
    "event_id",
    "tenant_id",
    "trace_id",
    "span_id",
    "token_convention",
    "pricing_source",
    *(name for name, _ in _LIMITED_TEXT),
    *_of_kind(_COUNT),
    *_of_kind(_FLAG),
    *_FINITE_FIELDS,
    *_of_kind(_MONEY),
    # An unset time reads as zero; so does an unset cache_ttl_seconds (presence decides).
    "time.seconds",
    "time.nanos",
    "cache_ttl_seconds",
)
_BATCH_GET = operator.attrgetter(*_BATCH_FIELDS)
_AT = {name: position for position, name in enumerate(_BATCH_FIELDS)}
_EVENT, _TRACE, _SPAN, _CONVENTION, _SOURCE = 0, 2, 3, 4, 5
_TEXT_SLICE = slice(6, 6 + len(_LIMITED_TEXT))
_NUMBER_START = _TEXT_SLICE.stop
_NUMBER_NAMES = (*_of_kind(_COUNT), *_of_kind(_FLAG), *_FINITE_FIELDS)
_NUMBER_SLICE = slice(_NUMBER_START, _NUMBER_START + len(_NUMBER_NAMES))
_MONEY_AT = tuple((_AT[name], _MONEY_COLUMNS[name]) for name in _of_kind(_MONEY))
#: By construction: every field a rule reads is read by the column-wise path, except metadata,
#: whose records always take _check itself.
_UNREAD = set(_FIELD_RULES) - {name.partition(".")[0] for name in _BATCH_FIELDS} - {"metadata"}
_UNREAD |= {name for rule in _CROSS_RULES for name in rule.reads} - set(_BATCH_FIELDS)
if _UNREAD:
    raise RuntimeError(f"the column-wise usage check does not read {sorted(_UNREAD)}")
_INPUT, _CACHE_CREATION, _CACHE_READ = (
    _AT["input_tokens"],
    _AT["cache_creation_input_tokens"],
    _AT["cache_read_input_tokens"],
)
_IS_BATCH, _IS_LONG_CONTEXT = _AT["is_batch"], _AT["is_long_context"]
_SECONDS, _NANOS, _TTL = _AT["time.seconds"], _AT["time.nanos"], _AT["cache_ttl_seconds"]
#: The money fields' order in _MONEY_AT; computed_cost_usd decides the cost status.
_COMPUTED_COST = _of_kind(_MONEY).index("computed_cost_usd")
_EMPTY_IS_NULL: dict[str, None] = {"": None}
#: Each text field's position, and what an empty value becomes (NULL, or the column default).
_TEXT_EMPTY = (
    *((_AT[name], _EMPTY_IS_NULL) for name, _ in _TEXT_FIELDS),
    (_AT["metric_type"], {"": DEFAULT_METRIC_TYPE}),
    (_AT["metric_name"], {"": DEFAULT_METRIC_NAME}),
    (_SOURCE, {"": DEFAULT_PRICING_SOURCE}),
)
_TEXT_EMPTY_NAMES = (
    *(name for name, _ in _TEXT_FIELDS),
    "metric_type",
    "metric_name",
    "pricing_source",
)
_NO_MODEL, _CLIENT_COST = CostStatus.NO_MODEL, CostStatus.CLIENT
_TIERS = {
    (False, False): tpb.PRICE_TIER_STANDARD,
    (True, False): tpb.PRICE_TIER_BATCH,
    (False, True): tpb.PRICE_TIER_LONG_CONTEXT,
    (True, True): tpb.PRICE_TIER_BATCH_LONG_CONTEXT,
}


#: The text columns (by position in the batch getter's values) grouped by their longest length.
_TEXT_LIMITS: dict[int, tuple[int, ...]] = {}
for _position, (_, _longest) in enumerate(_LIMITED_TEXT, start=_TEXT_SLICE.start):
    _TEXT_LIMITS[_longest] = (*_TEXT_LIMITS.get(_longest, ()), _position)
_SOURCE_LONGEST = _FIELD_RULES["pricing_source"][1]
_TEXT_LIMITS[_SOURCE_LONGEST] = (*_TEXT_LIMITS.get(_SOURCE_LONGEST, ()), _SOURCE)
_TEXT_POSITIONS = tuple(sorted(p for group in _TEXT_LIMITS.values() for p in group))


def _needs_full_check(columns: Sequence[Sequence[Any]], tenant_id: str) -> set[int]:
    """Indexes of the records a rule might refuse, found column by column at C speed (min, max,
    joins, one regex over a whole column); only these go through :func:`_check`, which names
    each problem. A column that fails its batch-wide test is searched row by row."""
    suspects: set[int] = set()

    def where(column: Sequence[Any], bad: Any) -> None:
        suspects.update(n for n, value in enumerate(column) if bad(value))

    if NUL in "".join(chain.from_iterable(columns[p] for p in _TEXT_POSITIONS)):
        for position in _TEXT_POSITIONS:
            where(columns[position], lambda value: NUL in value)
    for longest, positions in _TEXT_LIMITS.items():
        if max(map(len, chain.from_iterable(columns[p] for p in positions))) > longest:
            for position in positions:
                where(
                    columns[position],
                    lambda value, longest=longest: _text_problem(value, longest) is not None,
                )
    for name in _of_kind(_COUNT):
        column = columns[_AT[name]]
        if min(column) < 0:
            where(column, _negative)
    for name in _FINITE_FIELDS:
        column = columns[_AT[name]]
        if not all(map(math.isfinite, column)):
            where(column, _not_finite)
    for rule in _CROSS_RULES:
        read = [columns[_AT[name]] for name in rule.reads]
        if not rule.all_clear(tenant_id, read):
            suspects.update(
                n
                for n, values in enumerate(zip(*read, strict=True))
                if rule.problems(tenant_id, *values)
            )
    return suspects


def _check_many(
    records: Sequence[pb.UsageRecord],
    prefix: str,
    tenant_id: str,
    received_ns: int,
    trace_ids: tuple[str, str],
    created_at: datetime,
    row_ids: Sequence[uuid.UUID],
) -> list[tuple[Row, bool, int] | list[FieldViolation]]:
    """:func:`_check` of every record (``prefix[i]`` naming record i), with the same results,
    at a fraction of its cost per row: the ingest hot path.

    Each record's scalars are read with one C-level getter; every rule is checked and every
    derived value computed per column (mostly by C-level map, min and max), and the rows are
    made from the finished columns by one transposition. Records that set a rarely used
    message field (metadata) or that any rule might refuse take :func:`_check` itself.
    """
    count = len(records)
    if not count:
        return []
    values = [_BATCH_GET(record) for record in records]
    columns = list(zip(*values, strict=True))
    slow = _needs_full_check(columns, tenant_id)
    # When it happened: an unset time is the time received; a set one must be in range.
    occurred = list(
        map(add, map(mul, columns[_SECONDS], repeat(1_000_000_000, count)), columns[_NANOS])
    )
    if min(occurred) <= 0 or max(occurred) > MAX_UNIX_NANO:
        for n, occurred_ns in enumerate(occurred):
            if occurred_ns == 0 and not records[n].HasField("time"):
                occurred[n] = received_ns
            elif not 0 < occurred_ns <= MAX_UNIX_NANO:
                slow.add(n)
    slow.update(n for n, record in enumerate(records) if record.HasField("metadata"))
    # cache_ttl_seconds is optional: 0 may be sent or mean "unset" (the default applies).
    ttls = list(columns[_TTL])
    for n, ttl in enumerate(ttls):
        if ttl < 0:
            slow.add(n)
        elif ttl == 0 and not records[n].HasField("cache_ttl_seconds"):
            ttls[n] = DEFAULT_CACHE_TTL_SECONDS
    money_columns: list[Sequence[int | None]] = []
    unset: list[int | None] = [None] * count
    for position, _ in _MONEY_AT:
        texts = columns[position]
        if not any(texts):
            money_columns.append(unset)
            continue
        picos: list[int | None] = [None] * count
        for n, money in enumerate(texts):
            if money:
                try:
                    picos[n] = parse_pico(money, "")
                except InvalidArgument:
                    slow.add(n)
        money_columns.append(picos)
    # Trace ids from the context where the row sets none; an empty id is NULL.
    traces: Sequence[str] = columns[_TRACE]
    spans: Sequence[str] = columns[_SPAN]
    if "" in traces:
        context_trace, context_span = trace_ids
        spans = [span if trace else context_span for trace, span in zip(traces, spans, strict=True)]
        traces = [trace or context_trace for trace in traces]
    conventions = columns[_CONVENTION]
    inputs, cache_creations, cache_reads = (
        columns[_INPUT],
        columns[_CACHE_CREATION],
        columns[_CACHE_READ],
    )
    if _INCLUDES_CACHED in conventions:
        total_inputs = [
            input_tokens if convention == _INCLUDES_CACHED else input_tokens + created + read
            for convention, input_tokens, created, read in zip(
                conventions, inputs, cache_creations, cache_reads, strict=True
            )
        ]
    else:
        total_inputs = list(map(add, inputs, map(add, cache_creations, cache_reads)))
    hit_rates = [
        read / total if total else 0.0
        for read, total in zip(cache_reads, total_inputs, strict=True)
    ]
    cost_statuses = [
        _NO_MODEL if cost is None else _CLIENT_COST for cost in money_columns[_COMPUTED_COST]
    ]
    # Every column of the rows, in their order (a constant column repeats its value), then
    # the rows themselves by one C-level transposition.
    computed: dict[str, Iterable[Any]] = {
        "id": row_ids,
        "tenant_id": repeat(tenant_id, count),
        "event_id": columns[_EVENT],
        "timestamp_unix_nano": occurred,
        **{
            # dict.get(empty, value, value): mypy picks no overload of the unbound method.
            name: map(dict.get, repeat(empty, count), columns[position], columns[position])  # type: ignore[arg-type]
            for name, (position, empty) in zip(_TEXT_EMPTY_NAMES, _TEXT_EMPTY, strict=True)
        },
        **dict(zip(_NUMBER_NAMES, columns[_NUMBER_SLICE], strict=True)),
        **dict(zip((column for _, column in _MONEY_AT), money_columns, strict=True)),
        "cache_ttl_seconds": ttls,
        "total_input_tokens": total_inputs,
        "cache_hit_rate": hit_rates,
        "cost_status": cost_statuses,
        "trace_id": map(dict.get, repeat(_EMPTY_IS_NULL, count), traces, traces),
        "span_id": map(dict.get, repeat(_EMPTY_IS_NULL, count), spans, spans),
        "created_at": repeat(created_at, count),
        "updated_at": repeat(created_at, count),
    }
    rows = map(
        list,
        zip(
            *(
                computed[name] if name in computed else repeat(_ROW_TEMPLATE[name], count)
                for name in COPY_COLUMNS
            ),
            strict=True,
        ),
    )
    includes_cached = map(_INCLUDES_CACHED.__eq__, conventions)
    tiers = map(_TIERS.__getitem__, zip(columns[_IS_BATCH], columns[_IS_LONG_CONTEXT], strict=True))
    outcomes: list[tuple[Row, bool, int] | list[FieldViolation]] = list(
        zip(rows, includes_cached, tiers, strict=True)
    )
    for n in slow:
        outcomes[n] = _check(
            records[n], f"{prefix}[{n}]", tenant_id, received_ns, trace_ids, created_at, row_ids[n]
        )
    return outcomes


_PRICED_AT = tuple(
    COLUMN[name]
    for name in (
        "computed_cost_picos",
        "cost_breakdown_json",
        "cache_cost_savings_picos",
        "cost_status",
        "pricing_source",
        "output_rate_per_mtok_micros",
        "input_rate_per_mtok_micros",
        "cache_read_rate_per_mtok_micros",
        "cache_write_rate_per_mtok_micros",
        "neuron_cost_picos",
        "neuron_rate_per_1k_micros",
    )
)


def _apply_price(checked: _Checked, prices: ModelPrices | None, unavailable: bool) -> None:
    """Fill the row's cost columns from the model's prices, or say why they stay empty."""
    row = checked.row
    if unavailable:
        row[_STATUS_AT] = CostStatus.PRICING_UNAVAILABLE
        return
    if prices is None:
        row[_STATUS_AT] = CostStatus.UNKNOWN_MODEL
        return
    price = prices.price_at(checked.tier, row[_TIME_AT])
    if price is None:
        row[_STATUS_AT] = CostStatus.NO_PRICE
        return
    rates = price.rates
    usage = checked.usage()
    cost = price_usage(usage, rates)
    breakdown = encode_json(
        {
            "input": format_pico(cost.input),
            "output": format_pico(cost.output),
            "cache_write": format_pico(cost.cache_write),
            "cache_read": format_pico(cost.cache_read),
            "web_search": format_pico(cost.web_search),
            "code_exec": format_pico(cost.code_exec),
            "neurons": format_pico(cost.neurons),
            "total": format_pico(cost.total),
        }
    )
    priced = (
        cost.total,
        breakdown,
        cache_read_savings(usage, rates),
        CostStatus.PRICED,
        price.source,
        rates.output_per_mtok,
        rates.input_per_mtok,
        rates.cache_read_per_mtok,
        rates.cache_write_per_mtok,
        cost.neurons,
        rates.neurons_per_1k,
    )
    for position, value in zip(_PRICED_AT, priced, strict=True):
        row[position] = value


#: Rows land COPY-first, skipping event ids the tenant has stored already.
USAGE_TARGET = BulkTarget(
    cast(Table, UsageRecord.__table__),
    columns=COPY_COLUMNS,
    conflict_columns=("tenant_id", "event_id"),
    returning="event_id",
)


def random_uuids(count: int) -> list[uuid.UUID]:
    """``count`` random version-4 UUIDs from one read of the OS's randomness, not one each.

    asyncpg's UUID (a ``uuid.UUID`` built in C) is several times cheaper to make per row."""
    entropy = bytearray(os.urandom(16 * count))
    for start in range(0, 16 * count, 16):
        entropy[start + 6] = (entropy[start + 6] & 0x0F) | 0x40  # version 4
        entropy[start + 8] = (entropy[start + 8] & 0x3F) | 0x80  # RFC 4122 variant
    raw = bytes(entropy)
    return [pgproto.UUID(raw[start : start + 16]) for start in range(0, 16 * count, 16)]
