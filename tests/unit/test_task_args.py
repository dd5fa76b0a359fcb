"""Task arguments as stored JSON: exact round trips, refusals with paths, corrupt rows."""

from __future__ import annotations

import enum
import importlib
import importlib.resources
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickwork._errors import InvalidJobDataError
from tickwork._task_args import SUPPORTED, decode_arguments, encode_arguments

PARIS = ZoneInfo("Europe/Paris")


@attrs.frozen
class Point:
    x: int
    y: int


@attrs.define
class Meeting:
    title: str
    start: datetime
    where: Point | None = None
    tags: tuple[str, ...] = ()


@attrs.define
class Box:
    """Holds anything supported; the property tests nest these."""

    value: Any


@attrs.define
class Private:
    _secret: str
    derived: int = attrs.field(init=False, default=7)


@attrs.define
class Positive:
    n: int = attrs.field(validator=attrs.validators.gt(0))


class Outer:
    @attrs.define
    class Inner:
        v: Any


class Color(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


class NotAttrs:
    pass


# --- helpers --------------------------------------------------------------------------


def canon(value: Any) -> Any:
    """A comparable form that tells apart what == does not (types, -0.0, 1.10, zones)."""
    kind = type(value)
    if kind in (list, tuple):
        return (kind.__name__, [canon(v) for v in value])
    if kind is dict:
        return ("dict", [(k, canon(v)) for k, v in value.items()])
    if kind is float:
        return ("float", repr(value))
    if kind is Decimal:
        return ("Decimal", str(value))
    if kind is datetime:
        tz = value.tzinfo
        zone = tz.key if isinstance(tz, ZoneInfo) else repr(tz)
        return ("datetime", value.replace(tzinfo=None).isoformat(), value.fold, zone)
    if attrs.has(kind):
        return (kind.__qualname__, [canon(getattr(value, f.name)) for f in attrs.fields(kind)])
    return (kind.__name__, value)


def round_trip(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    text = encode_arguments(args, kwargs)
    decoded = decode_arguments(text)
    assert canon(decoded[0]) == canon(args)
    assert canon(decoded[1]) == canon(dict(sorted(kwargs.items())))  # stored sorted by name
    assert decoded == (args, kwargs)
    return decoded


def refusal(args: Any = (), kwargs: Any = None) -> str:
    with pytest.raises(InvalidJobDataError) as info:
        encode_arguments(args, {} if kwargs is None else kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("task argument ")
    return message


def corrupt(text: Any) -> str:
    with pytest.raises(InvalidJobDataError) as info:
        decode_arguments(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("stored task arguments:")
    return message


# --- shape of the text ----------------------------------------------------------------


def test_no_arguments_store_nothing() -> None:
    assert encode_arguments((), {}) is None
    assert encode_arguments([], {}) is None
    assert decode_arguments(None) == ((), {})


def test_text_is_compact_with_empty_parts_left_out() -> None:
    assert encode_arguments((1, "a"), {}) == '{"args":[1,"a"]}'
    assert encode_arguments((), {"n": None}) == '{"kwargs":{"n":null}}'
    assert encode_arguments([True], {"x": 1.5}) == '{"args":[true],"kwargs":{"x":1.5}}'


def test_kwargs_are_sorted_so_the_text_is_deterministic() -> None:
    assert encode_arguments((), {"b": 1, "a": 2}) == encode_arguments((), {"a": 2, "b": 1})
    assert encode_arguments((), {"b": 1, "a": 2}) == '{"kwargs":{"a":2,"b":1}}'


def test_user_dicts_keep_their_order() -> None:
    (value,), _ = round_trip({"z": 1, "a": 2})
    assert list(value) == ["z", "a"]


def test_text_is_ascii() -> None:
    text = encode_arguments(("héllo \ud800 \x00",), {})
    assert text is not None
    assert text.isascii()
    round_trip("héllo \ud800 \x00")


def test_datetime_tag_scheme() -> None:
    when = datetime(2026, 3, 1, 9, 0, tzinfo=PARIS)
    assert json.loads(encode_arguments((when,), {}) or "") == {
        "args": [{"$datetime": "2026-03-01T09:00:00+01:00", "tz": "Europe/Paris"}]
    }


# --- each supported type --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**64) - 5,
        pytest.param(10**5000, id="10**5000"),
        pytest.param(-(10**5000), id="-10**5000"),
        0.0,
        -0.0,
        1.1,
        1e300,
        5e-324,
        "",
        "text",
        "$not-a-tag",
        [],
        [1, [2, [3]]],
        (),
        (1,),
        ([1], (2,)),
        {},
        {"a": {"b": [1, (2, 3)]}},
    ],
)
def test_json_like_values_round_trip(value: Any) -> None:
    round_trip(value)
    round_trip(k=value)


def test_tuples_and_lists_stay_apart() -> None:
    args, kwargs = round_trip([1, 2], (1, 2), k=[(1, [2, (3,)])])
    assert type(args[0]) is list
    assert type(args[1]) is tuple
    assert type(kwargs["k"][0]) is tuple
    assert type(kwargs["k"][0][1]) is list


@pytest.mark.parametrize(
    "value",
    [
        {"$tuple": [1, 2]},
        {"$datetime": "2026-01-01T00:00:00"},
        {"$dict": {"$dict": 1}},
        {"$": 1, "plain": 2},
        {"a": {"$attrs": "os:path", "fields": {}}},
        {"": 0, "$$": "$"},
    ],
    ids=repr,
)
def test_dicts_with_dollar_keys_are_escaped(value: dict[str, Any]) -> None:
    round_trip(value)
    round_trip([value], k=(value,))


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 3, 1, 9, 0),
        datetime(2026, 3, 1, 9, 0, 1, 123456),
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2026, 3, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 3, 1, 9, 0, tzinfo=timezone(-timedelta(hours=23, minutes=59))),
        datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(seconds=1, microseconds=1))),
        datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(microseconds=1))),
        datetime(2026, 3, 1, 9, 0, tzinfo=timezone(-timedelta(microseconds=1))),
        datetime(2026, 3, 1, 9, 0, tzinfo=PARIS),
        datetime(2026, 7, 1, 9, 0, tzinfo=PARIS),
        datetime(2026, 10, 25, 2, 30, tzinfo=PARIS),  # ambiguous, first
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=PARIS),  # ambiguous, second
        datetime(2026, 3, 29, 2, 30, tzinfo=PARIS),  # in the spring gap
        datetime(1850, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),  # LMT offset in seconds
        datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")),
        datetime(2026, 1, 1, fold=1),
    ],
    ids=str,
)
def test_datetimes_round_trip_with_their_zone(when: datetime) -> None:
    (back,), _ = round_trip(when)
    assert back.tzinfo == when.tzinfo or back.tzinfo is when.tzinfo
    assert back.utcoffset() == when.utcoffset()
    assert back.fold == when.fold


def test_zoneinfo_name_comes_back_not_just_the_offset() -> None:
    (back,), _ = round_trip(datetime(2026, 3, 1, 9, 0, tzinfo=PARIS))
    assert isinstance(back.tzinfo, ZoneInfo)
    assert back.tzinfo.key == "Europe/Paris"
    # later arithmetic follows the zone's rules, which a bare offset would not
    assert (back + timedelta(days=120)).utcoffset() == timedelta(hours=2)


def test_dates_uuids_and_decimals_round_trip() -> None:
    round_trip(date(2026, 3, 1), date(1, 1, 1), uuid.uuid4(), uuid.UUID(int=0))


@pytest.mark.parametrize(
    "text", ["1.10", "-0", "0", "0E-7", "1E+2", "-123456789012345678901234567890.000", "1e-400"]
)
def test_decimals_keep_their_exact_text(text: str) -> None:
    (back,), _ = round_trip(Decimal(text))
    assert str(back) == str(Decimal(text))


def test_attrs_instances_round_trip_with_nested_values() -> None:
    meeting = Meeting(
        "standup",
        datetime(2026, 3, 1, 9, 0, tzinfo=PARIS),
        Point(1, 2),
        ("a", "b"),
    )
    args, kwargs = round_trip(meeting, every=[Box(Box(meeting))], at=Box({"$k": date(2026, 1, 1)}))
    assert args[0].start.tzinfo.key == "Europe/Paris"
    assert type(args[0].tags) is tuple
    assert kwargs["every"][0].value.value == meeting


def test_attrs_text_names_the_class() -> None:
    text = encode_arguments((Point(1, 2),), {}) or ""
    assert json.loads(text) == {
        "args": [{"$attrs": f"{__name__}:Point", "fields": {"x": 1, "y": 2}}]
    }


def test_attrs_private_fields_use_their_alias_and_init_false_is_skipped() -> None:
    (back,), _ = round_trip(Private("s"))
    assert back.derived == 7
    assert "derived" not in (encode_arguments((Private("s"),), {}) or "")


def test_nested_attrs_classes_round_trip() -> None:
    round_trip(Outer.Inner(Outer.Inner([1])))


# --- refusals -------------------------------------------------------------------------


def _local_attrs_instance() -> Any:
    @attrs.define
    class Local:
        v: int

    return Local(1)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({1}, "a set cannot be stored"),
        (frozenset(), "frozenset"),
        (b"x", "bytes"),
        (bytearray(), "bytearray"),
        (float("nan"), "non-finite float"),
        (float("inf"), "non-finite float"),
        (float("-inf"), "non-finite float"),
        (Decimal("NaN"), "non-finite Decimal"),
        (Decimal("Infinity"), "non-finite Decimal"),
        (Decimal("sNaN"), "non-finite Decimal"),
        (object(), "object cannot be stored"),
        (print, "builtin_function_or_method"),
        (lambda: 1, "function"),
        (1j, "complex"),
        (timedelta(1), "timedelta"),
        (time(1), "time"),
        (Color.RED, "Color"),
        (Level.LOW, "subclass"),
        (NotAttrs(), "NotAttrs"),
        (Outer, "type"),
        (iter([]), "list_iterator"),
    ],
    ids=repr,
)
def test_unsupported_values_are_refused_with_their_path(value: Any, words: str) -> None:
    message = refusal((1, [0, 0, {"k": value}]))
    assert "args[1][2]['k']" in message
    assert words in message
    message = refusal(kwargs={"when": [0, 0, value]})
    assert message.startswith("task argument kwargs['when'][2]: ")


def test_the_refusal_message_lists_what_is_supported() -> None:
    message = refusal(kwargs={"when": [1, 2, {3}]})
    assert message == (
        f"task argument kwargs['when'][2]: a set cannot be stored; supported: {SUPPORTED}"
    )


def test_paths_go_through_attrs_fields_and_tuples() -> None:
    assert "args[0].value[1]" in refusal((Box((0, {1})),))
    assert "kwargs['m'].where" in refusal(kwargs={"m": Meeting("t", datetime(2026, 1, 1), {1})})


def test_dict_keys_must_be_str() -> None:
    message = refusal(({"a": {1: "x"}},))
    assert "args[0]['a']" in message
    assert "key must be a str" in message


@pytest.mark.parametrize("key", ["not valid", "1x", "", "a-b"])
def test_kwargs_keys_must_be_identifiers(key: str) -> None:
    assert repr(key) in refusal(kwargs={key: 1})


def test_kwargs_keys_must_be_str() -> None:
    assert "kwargs" in refusal(kwargs={1: 1})


def test_args_must_be_a_sequence_but_not_a_string() -> None:
    assert "args" in refusal("abc")
    assert "args" in refusal(42)


def test_subclasses_of_supported_types_are_refused() -> None:
    class MyStr(str):
        pass

    class MyDict(dict[str, Any]):
        pass

    assert "subclass" in refusal((MyStr("x"),))
    assert "subclass" in refusal(([MyDict()],))
    assert "subclass" in refusal(kwargs={"x": True, "y": Level.LOW})


class HourAhead(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


@pytest.mark.parametrize(
    "tz", [timezone(timedelta(hours=1), "CET"), HourAhead()], ids=["named-offset", "custom"]
)
def test_other_tzinfos_are_refused(tz: tzinfo) -> None:
    message = refusal(kwargs={"at": datetime(2026, 1, 1, tzinfo=tz)})
    assert "tzinfo" in message
    assert "kwargs['at']" in message


def test_zoneinfo_without_a_key_is_refused(tmp_path: Path) -> None:
    # The tzdata package's copy, in the locked test environment (dev.py setup).
    source = importlib.resources.files("tzdata.zoneinfo").joinpath("Europe", "Paris")
    with source.open("rb") as handle:
        zone = ZoneInfo.from_file(handle)
    assert "no key" in refusal((datetime(2026, 1, 1, tzinfo=zone),))


def test_classes_defined_in_functions_are_refused() -> None:
    message = refusal(kwargs={"v": [_local_attrs_instance()]})
    assert "kwargs['v'][0]" in message
    assert "<locals>" in message


def test_cycles_are_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert "args[0][1]" in refusal((loop,))
    box = Box(None)
    box.value = {"again": box}
    assert "kwargs['b'].value['again']" in refusal(kwargs={"b": box})


def test_shared_values_that_are_not_cycles_are_fine() -> None:
    shared = [1, 2]
    round_trip([shared, shared], (shared,))


def test_very_deep_nesting_is_refused_cleanly() -> None:
    deep: Any = 1
    for _ in range(10_000):
        deep = [deep]
    message = refusal((deep,))
    assert "nested too deeply" in message


# --- decoding corrupt rows ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[1]", "the document must be a JSON dict"),
        ('"x"', "the document must be a JSON dict"),
        ('{"args":[1],"args":[2]}', "duplicate key"),
        ('{"args":[NaN]}', "NaN"),
        ('{"args":[Infinity]}', "Infinity"),
        ('{"other":1}', "unexpected top-level keys"),
        ('{"args":{}}', "args must be a JSON list"),
        ('{"kwargs":[]}', "kwargs must be a JSON dict"),
        ('{"kwargs":{"not ok":1}}', "not Python identifiers"),
        ('{"args":[{"$nope":1}]}', "args[0]: unknown tag '$nope'"),
        ('{"args":[{"$tuple":[],"$dict":{}}]}', "several tags"),
        ('{"args":[{"$tuple":[],"x":1}]}', "unexpected keys ['x']"),
        ('{"args":[{"$tuple":{}}]}', "$tuple must be a JSON list"),
        ('{"args":[{"$dict":[]}]}', "$dict must be a JSON dict"),
        ('{"args":[[0,{"$date":"2026-13-01"}]]}', "args[0][1]: $date '2026-13-01' is not valid"),
        ('{"args":[{"$date":"20260301"}]}', "canonical"),
        ('{"args":[{"$date":1}]}', "$date must be a JSON str"),
        ('{"args":[{"$decimal":"1_0"}]}', "canonical"),
        ('{"args":[{"$decimal":"x"}]}', "not valid"),
        ('{"args":[{"$decimal":"NaN"}]}', "not valid"),
        ('{"args":[{"$uuid":"nope"}]}', "not valid"),
        ('{"args":[{"$uuid":"{12345678-1234-5678-1234-567812345678}"}]}', "canonical"),
        ('{"args":[{"$int":"12"}]}', "hex"),
        ('{"args":[{"$int":"0x0f"}]}', "hex"),
        ('{"args":[{"$datetime":"yesterday"}]}', "not valid"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00+\uff10\uff15:00"}]}', "not valid"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00","tz":"Europe/Paris"}]}', "offset"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00+05:00","tz":"Europe/Paris"}]}', "match"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00+00:00","tz":"Nowhere/Land"}]}', "zone"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00+00:00","tz":"../../etc"}]}', "zone"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00","fold":2}]}', "fold"),
        ('{"args":[{"$datetime":"2026-01-01T00:00:00","fold":true}]}', "fold"),
        ('{"kwargs":{"k":{"$dict":{"a":{"$x":1}}}}}', "kwargs['k']['a']: unknown tag"),
    ],
)
def test_corrupt_text_is_refused(text: str, words: str) -> None:
    assert words in corrupt(text)


def test_decode_refuses_a_non_string() -> None:
    corrupt(b'{"args":[1]}')


@pytest.mark.parametrize(
    ("stored", "words"),
    [
        ({"$attrs": "no.such.module:Point", "fields": {}}, "is not loaded"),
        ({"$attrs": f"{__name__}:Nope", "fields": {}}, "is not loaded"),
        ({"$attrs": f"{__name__}:NotAttrs", "fields": {}}, "is not an attrs class"),
        ({"$attrs": f"{__name__}:canon", "fields": {}}, "is not an attrs class"),
        ({"$attrs": f"{__name__}", "fields": {}}, "is not loaded"),
        ({"$attrs": f"{__name__}:Point"}, "fields of"),
        ({"$attrs": f"{__name__}:Point", "fields": {"x": 1}}, "refused the stored fields"),
        ({"$attrs": f"{__name__}:Point", "fields": {"x": 1, "y": 2, "z": 3}}, "no init fields"),
        ({"$attrs": f"{__name__}:Private", "fields": {"derived": 1}}, "no init fields"),
        ({"$attrs": f"{__name__}:Positive", "fields": {"n": -1}}, "refused the stored fields"),
        ({"$attrs": 3, "fields": {}}, "$attrs must be a JSON str"),
    ],
    ids=repr,
)
def test_attrs_decode_errors_name_the_class(stored: dict[str, Any], words: str) -> None:
    message = corrupt(json.dumps({"args": [stored]}))
    assert words in message
    assert "args[0]" in message
    if isinstance(stored["$attrs"], str):
        assert stored["$attrs"] in message


def test_decode_never_imports_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "tickwork_throwaway_task_args_module"
    (tmp_path / f"{name}.py").write_text(
        "import attrs\n\n@attrs.define\nclass Thing:\n    value: object\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    text = encode_arguments((module.Thing(datetime(2026, 1, 1, tzinfo=PARIS)),), {})
    assert decode_arguments(text)[0][0] == module.Thing(datetime(2026, 1, 1, tzinfo=PARIS))

    del sys.modules[name]
    try:
        message = corrupt(text)
        assert f"{name}:Thing" in message
        assert name not in sys.modules
    finally:
        sys.modules.pop(name, None)


def test_decode_does_not_trigger_module_getattr(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    module = type(sys)("tickwork_lazy_task_args_module")

    def lazy(attr: str) -> Any:
        calls.append(attr)
        return Point

    module.__getattr__ = lazy  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    corrupt(json.dumps({"args": [{"$attrs": f"{module.__name__}:Point", "fields": {}}]}))
    assert calls == []


def test_deeply_nested_text_is_refused_cleanly() -> None:
    corrupt('{"args":' + "[" * 100_000 + "]" * 100_000 + "}")
    corrupt('{"args":[' + '{"$tuple":[' * 5_000 + "]}" * 5_000 + "]}")


# --- properties -----------------------------------------------------------------------


def _fixed_offsets() -> st.SearchStrategy[timezone]:
    limit = timedelta(hours=23, minutes=59, seconds=59)
    return st.timedeltas(min_value=-limit, max_value=limit).map(timezone)


_LEAVES: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.datetimes(timezones=_fixed_offsets()),
    st.dates(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
)
_KEYS = st.text(max_size=5) | st.text(max_size=4).map(lambda s: "$" + s)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
        st.builds(Box, inner),
        st.builds(Outer.Inner, inner),
    )


SUPPORTED_VALUES = st.recursive(_LEAVES, _containers, max_leaves=20)
KWARG_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    args=st.lists(SUPPORTED_VALUES, max_size=3),
    kwargs=st.dictionaries(KWARG_NAMES, SUPPORTED_VALUES, max_size=3),
)
def test_any_supported_value_round_trips_exactly(args: list[Any], kwargs: dict[str, Any]) -> None:
    text = encode_arguments(args, kwargs)
    back_args, back_kwargs = decode_arguments(text)
    assert canon(back_args) == canon(tuple(args))
    assert canon(dict(sorted(back_kwargs.items()))) == canon(dict(sorted(kwargs.items())))
    assert encode_arguments(back_args, back_kwargs) == text  # canonical: same text again


_BAD_LEAVES: st.SearchStrategy[Any] = st.one_of(
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=3),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
    st.builds(object),
    st.sampled_from([Color.RED, Level.LOW, NotAttrs(), print, 1j, time(0)]),
    st.timedeltas(),
    st.builds(_local_attrs_instance),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),
)


def _around(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``inner`` put somewhere inside a supported container, among supported siblings."""
    siblings = st.lists(_LEAVES, max_size=2)
    placed = st.tuples(siblings, inner, siblings).map(lambda t: [*t[0], t[1], *t[2]])
    return st.one_of(
        placed,
        placed.map(tuple),
        st.tuples(_KEYS, inner, st.dictionaries(_KEYS, _LEAVES, max_size=2)).map(
            lambda t: {**t[2], t[0]: t[1]}
        ),
        st.builds(Box, inner),
    )


POISONED = st.recursive(_BAD_LEAVES, _around, max_leaves=8)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    good=st.lists(SUPPORTED_VALUES, max_size=2),
    bad=POISONED,
    position=st.integers(min_value=0, max_value=2),
    as_kwarg=st.booleans(),
)
def test_any_value_with_an_unsupported_leaf_is_refused(
    good: list[Any], bad: Any, position: int, as_kwarg: bool
) -> None:
    if as_kwarg:
        kwargs = {f"k{i}": v for i, v in enumerate(good)} | {"bad": bad}
        message = refusal((), kwargs)
        assert message.startswith("task argument kwargs['bad']")
    else:
        args = [*good]
        args.insert(min(position, len(args)), bad)
        message = refusal(args)
        assert message.startswith(f"task argument args[{args.index(bad)}]")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["$tuple", "$dict", "$int", "$date", "$attrs", "fields", "tz", "a"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    text=st.text(max_size=30)
    | st.builds(
        lambda a, k: json.dumps({"args": a, "kwargs": k}),
        st.lists(_JSON, max_size=2),
        st.dictionaries(KWARG_NAMES, _JSON, max_size=2),
    )
)
def test_decode_raises_only_invalid_job_data(text: str) -> None:
    message = "stored task arguments: (decoded)"
    try:
        decode_arguments(text)
    except InvalidJobDataError as exc:
        message = str(exc)
    assert "\n" not in message
    assert message.startswith("stored task arguments:")


def test_canon_helper_tells_apart_what_equality_does_not() -> None:
    pairs: list[tuple[Any, Any]] = [
        ([1], (1,)),
        (1, True),
        (1.0, 1),
        (-0.0, 0.0),
        (Decimal("1.10"), Decimal("1.1")),
        (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))),
    ]
    check: Callable[[Any, Any], bool] = lambda a, b: canon(a) != canon(b)  # noqa: E731
    assert all(check(a, b) for a, b in pairs)
