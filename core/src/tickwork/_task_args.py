"""A task's arguments as one JSON string in the job's metadata, and back.

Why JSON. A job's metadata is a ``dict[str, str]`` that a Go library reads from the same
rows, so the arguments must be *text* that another language can parse, and they must be
*data*: unpickling runs arbitrary code chosen by whoever can write the store, and a
pickle breaks when a class moves. JSON is readable in a ``SELECT``, portable and inert.

Why tags. Plain JSON cannot tell a tuple from a list, a ``Decimal`` from a float or a
datetime from a string, yet a task must receive exactly what ``add_job`` was given
(decoded == original, same types). So JSON types (``None``, ``bool``, ``str``, finite
``float``, ``int`` within int64, ``list``, ``dict`` with ``str`` keys) are written as
themselves and every other supported value as an object with ONE key starting with
``$`` (the tag) and, for some tags, plain companion keys:

- ``{"$tuple": [...]}``: a tuple (its items encoded the same way);
- ``{"$dict": {...}}``: a dict with a key starting with ``$``, escaped so that its keys
  are never read as a tag (a dict without such keys is written as itself);
- ``{"$int": "-0x1f"}``: an int outside int64, in hex (no digit limit, and readers that
  hold JSON numbers as int64 or float64 do not silently lose precision);
- ``{"$datetime": "2026-03-01T09:00:00+01:00"}``: a datetime, naive or with a fixed
  offset, as ``isoformat()`` writes it;
- ``{"$datetime": "2026-03-01T09:00:00+01:00", "tz": "Europe/Paris"}``: a datetime in a
  ``zoneinfo.ZoneInfo``: the wall time and offset, plus the zone's name, so the zone (not
  just the offset) comes back; ``"fold": 1`` is added to any datetime whose fold is 1;
- ``{"$date": "2026-03-01"}``: a date;
- ``{"$decimal": "1.10"}``: a finite Decimal, exactly as ``str()`` writes it;
- ``{"$uuid": "12345678-1234-5678-1234-567812345678"}``: a UUID;
- ``{"$attrs": "module:qualname", "fields": {"name": ...}}``: an attrs instance, its
  ``init=True`` fields by name, each encoded the same way (so nested datetimes, attrs
  instances, ... are tagged too); it is rebuilt by calling the class with them.

The document is ``{"args": [...], "kwargs": {...}}`` with empty parts left out, written
compactly and deterministically (kwargs sorted by name, user dicts in their own order,
ASCII only), so the same call always gives the same text. Decoding accepts only the
canonical text of each tag and refuses unknown tags, so corrupt rows fail loudly.
Anything else (sets, bytes, NaN, enums, subclasses of the supported types, arbitrary
objects) is refused when the job is added, not when it runs, with the argument's path.

Why no imports on decode. An attrs instance names its class, and the class is looked
up only among modules already in ``sys.modules`` (through their ``__dict__``, so no
module ``__getattr__`` runs either). Importing a module named by stored data would let
whoever writes the store run the top level of any importable module in the worker.
Importing the task's module normally loads its argument classes too; a class that is not
loaded is reported by name instead. For the same reason a class defined inside a
function (``<locals>``), which can never be found by name, is refused at encode time.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NoReturn
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs

from ._errors import InvalidJobDataError

__all__ = ["decode_arguments", "encode_arguments"]

SUPPORTED = (
    "str, int, float, bool, None, list, tuple, dict with str keys, "
    "datetime, date, Decimal, UUID, attrs classes"
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_HEX_INT = re.compile(r"-?0x[0-9a-f]+")
_DECODE_PREFIX = "stored task arguments"
_DATETIME = re.compile(
    r"(?P<local>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?)"
    r"(?:(?P<sign>[+-])(?P<h>\d\d):(?P<m>\d\d)(?::(?P<s>\d\d)(?:\.(?P<us>\d{6}))?)?)?",
    re.ASCII,  # \d is 0-9 only: "１２" is not a number here
)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _short(value: Any) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    cls = type(value)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


# --- encoding ------------------------------------------------------------------------


def _refuse(path: str, problem: str, *, hint: bool = True) -> NoReturn:
    suffix = f"; supported: {SUPPORTED}" if hint else ""
    raise InvalidJobDataError(_one_line(f"task argument {path}: {problem}{suffix}"))


class _Encoder:
    """One encoding pass; ``_open`` holds the containers on the current path (cycles)."""

    def __init__(self) -> None:
        self._open: set[int] = set()

    def encode(self, value: Any, path: str) -> Any:
        if value is None or type(value) in (bool, str):
            return value
        handler = _ENCODERS.get(type(value))
        if handler is not None:
            return handler(self, value, path)
        if attrs.has(type(value)):
            return self._nested(value, path, _Encoder._attrs)
        if isinstance(value, float | int | str | list | tuple | dict | date | Decimal | UUID):
            _refuse(path, f"{_type_name(value)} (a subclass) cannot be stored; use the base type")
        _refuse(path, f"{_type_name(value)} cannot be stored")

    def _nested(self, value: Any, path: str, method: Callable[[_Encoder, Any, str], Any]) -> Any:
        if id(value) in self._open:
            _refuse(path, f"{_type_name(value)} that contains itself cannot be stored", hint=False)
        self._open.add(id(value))
        try:
            return method(self, value, path)
        finally:
            self._open.discard(id(value))

    def _list(self, value: list[Any], path: str) -> list[Any]:
        return [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _tuple(self, value: tuple[Any, ...], path: str) -> dict[str, Any]:
        return {"$tuple": [self.encode(item, f"{path}[{i}]") for i, item in enumerate(value)]}

    def _dict(self, value: dict[Any, Any], path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                _refuse(path, f"a dict key must be a str, not {_type_name(key)} ({_short(key)})")
            out[key] = self.encode(item, f"{path}[{key!r}]")
        if any(key.startswith("$") for key in out):
            return {"$dict": out}
        return out

    def _attrs(self, value: Any, path: str) -> dict[str, Any]:
        cls = type(value)
        name = f"{cls.__module__}:{cls.__qualname__}"
        if (
            "<locals>" in cls.__qualname__
            or _find_class(cls.__module__, cls.__qualname__) is not cls
        ):
            _refuse(
                path,
                f"the attrs class {name} cannot be found again by its name "
                "(define it at the top level of a module)",
                hint=False,
            )
        fields = {
            field.name: self.encode(getattr(value, field.name), f"{path}.{field.name}")
            for field in attrs.fields(cls)
            if field.init
        }
        return {"$attrs": name, "fields": fields}


def _encode_int(_enc: _Encoder, value: int, _path: str) -> Any:
    if _INT64_MIN <= value <= _INT64_MAX:
        return value
    return {"$int": format(value, "#x")}


def _encode_float(_enc: _Encoder, value: float, path: str) -> float:
    if value != value or value in (float("inf"), float("-inf")):
        _refuse(path, f"a non-finite float ({value!r}) cannot be stored")
    return value


def _encode_datetime(_enc: _Encoder, value: datetime, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"$datetime": value.isoformat()}
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo) and type(tz) is ZoneInfo:
        if tz.key is None:
            _refuse(path, "a datetime whose ZoneInfo has no key (from_file) cannot be stored")
        out["tz"] = tz.key
    elif tz is not None and not _is_plain_offset(tz):
        _refuse(
            path,
            f"a datetime with tzinfo {_type_name(tz)} cannot be stored; "
            "use zoneinfo.ZoneInfo or datetime.timezone(offset) without a name",
            hint=False,
        )
    if value.fold:
        out["fold"] = 1
    return out


def _is_plain_offset(tz: Any) -> bool:
    if type(tz) is not timezone:
        return False
    offset = tz.utcoffset(None)
    return tz.tzname(None) == timezone(offset).tzname(None)


def _encode_decimal(_enc: _Encoder, value: Decimal, path: str) -> dict[str, str]:
    if not value.is_finite():
        _refuse(path, f"a non-finite Decimal ({value}) cannot be stored")
    return {"$decimal": str(value)}


_ENCODERS: dict[type, Callable[[_Encoder, Any, str], Any]] = {
    int: _encode_int,
    float: _encode_float,
    list: lambda enc, value, path: enc._nested(value, path, _Encoder._list),
    tuple: lambda enc, value, path: enc._nested(value, path, _Encoder._tuple),
    dict: lambda enc, value, path: enc._nested(value, path, _Encoder._dict),
    datetime: _encode_datetime,
    date: lambda _enc, value, _path: {"$date": value.isoformat()},
    Decimal: _encode_decimal,
    UUID: lambda _enc, value, _path: {"$uuid": str(value)},
}


def _check_kwarg_names(kwargs: Mapping[Any, Any]) -> None:
    for key in kwargs:
        if type(key) is not str:
            _refuse("kwargs", f"the key {_short(key)} is not a str", hint=False)
        if not key.isidentifier():
            _refuse("kwargs", f"the key {key!r} is not a valid Python identifier", hint=False)


def encode_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """The stored JSON text of a task's arguments; None when there are none (nothing is stored).

    :raises InvalidJobDataError: a value cannot be stored (the message names its path,
        such as ``args[0]`` or ``kwargs['when'][2]``), or a kwargs key is not an identifier.
    """
    if isinstance(args, str | bytes | bytearray) or not isinstance(args, Sequence):
        _refuse("args", f"args must be a tuple or list, not {_type_name(args)}", hint=False)
    if not isinstance(kwargs, Mapping):
        _refuse("kwargs", f"kwargs must be a mapping, not {_type_name(kwargs)}", hint=False)
    _check_kwarg_names(kwargs)
    encoder = _Encoder()
    document: dict[str, Any] = {}
    try:
        if args:
            document["args"] = [encoder.encode(v, f"args[{i}]") for i, v in enumerate(args)]
        if kwargs:
            document["kwargs"] = {
                k: encoder.encode(kwargs[k], f"kwargs[{k!r}]") for k in sorted(kwargs)
            }
    except RecursionError:
        _refuse("arguments", "the values are nested too deeply to be stored", hint=False)
    if not document:
        return None
    return json.dumps(document, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


# --- decoding ------------------------------------------------------------------------


def _corrupt(path: str, problem: str) -> NoReturn:
    where = f"{path}: " if path else ""
    raise InvalidJobDataError(_one_line(f"{_DECODE_PREFIX}: {where}{problem}"))


def _find_class(module_name: str, qualname: str) -> Any:
    """The object ``module_name:qualname`` names, from loaded modules only; else None."""
    target: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if target is None:
            return None
        try:
            target = vars(target).get(part)
        except TypeError:
            return None
    return target


def _expect(value: Any, kind: type, path: str, what: str) -> Any:
    if type(value) is not kind:
        _corrupt(path, f"{what} must be a JSON {kind.__name__}, got {_type_name(value)}")
    return value


def _decode(value: Any, path: str) -> Any:
    if type(value) is list:
        return [_decode(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if type(value) is dict:
        return _decode_object(value, path)
    return value


def _decode_object(obj: dict[str, Any], path: str) -> Any:
    tags = [key for key in obj if key.startswith("$")]
    if not tags:
        return {key: _decode(item, f"{path}[{key!r}]") for key, item in obj.items()}
    if len(tags) > 1:
        _corrupt(path, f"an object has several tags {tags!r}")
    tag = tags[0]
    spec = _DECODERS.get(tag)
    if spec is None:
        _corrupt(path, f"unknown tag {tag!r}")
    decoder, allowed = spec
    extra = set(obj) - {tag, *allowed}
    if extra:
        _corrupt(path, f"unexpected keys {sorted(extra)!r} next to {tag!r}")
    return decoder(obj, path)


def _decode_tuple(obj: dict[str, Any], path: str) -> tuple[Any, ...]:
    items = _expect(obj["$tuple"], list, path, "$tuple")
    return tuple(_decode(item, f"{path}[{i}]") for i, item in enumerate(items))


def _decode_dict(obj: dict[str, Any], path: str) -> dict[str, Any]:
    inner = _expect(obj["$dict"], dict, path, "$dict")
    return {key: _decode(item, f"{path}[{key!r}]") for key, item in inner.items()}


def _decode_int(obj: dict[str, Any], path: str) -> int:
    text = _expect(obj["$int"], str, path, "$int")
    if not _HEX_INT.fullmatch(text) or format(int(text, 16), "#x") != text:
        _corrupt(path, f"$int {text[:40]!r} is not a canonical hex integer like '-0x1f'")
    return int(text, 16)


def _canonical(path: str, tag: str, parse: Callable[[str], Any], obj: dict[str, Any]) -> Any:
    """``parse(text)``, accepted only when it writes back as the same text."""
    text = _expect(obj[tag], str, path, tag)
    try:
        value = parse(text)
    except (ValueError, ArithmeticError) as exc:
        _corrupt(path, f"{tag} {text[:60]!r} is not valid: {exc}")
    back = value.isoformat() if isinstance(value, date) else str(value)
    if back != text:
        _corrupt(path, f"{tag} {text[:60]!r} is not in canonical form ({back[:60]!r})")
    return value


def _parse_datetime(text: str) -> datetime:
    """``datetime.fromisoformat``, but exact for sub-second offsets (3.11 reads them as UTC)."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError("expected YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM[:SS[.ffffff]]]")
    local = datetime.fromisoformat(match["local"])
    if not match["sign"]:
        return local
    offset = timedelta(
        hours=int(match["h"]),
        minutes=int(match["m"]),
        seconds=int(match["s"] or 0),
        microseconds=int(match["us"] or 0),
    )
    return local.replace(tzinfo=timezone(-offset if match["sign"] == "-" else offset))


def _decode_datetime(obj: dict[str, Any], path: str) -> datetime:
    value: datetime = _canonical(path, "$datetime", _parse_datetime, obj)
    fold = obj.get("fold", 0)
    if fold not in (0, 1) or type(fold) is not int:
        _corrupt(path, f"fold must be 0 or 1, got {_short(fold)}")
    if "tz" in obj:
        value = _in_zone(value, _expect(obj["tz"], str, path, "tz"), fold, path)
    return value.replace(fold=fold)


def _in_zone(value: datetime, key: str, fold: int, path: str) -> datetime:
    if value.tzinfo is None:
        _corrupt(path, f"a datetime with tz {key!r} must carry its offset")
    try:
        zone = ZoneInfo(key)
    except (ValueError, KeyError, OSError) as exc:
        _corrupt(path, f"unknown time zone {key[:60]!r} ({type(exc).__name__})")
    zoned = value.replace(tzinfo=zone, fold=fold)
    if zoned.utcoffset() != value.utcoffset():
        _corrupt(path, f"the offset of {value.isoformat()!r} does not match time zone {key!r}")
    return zoned


def _parse_decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise ValueError("only finite decimals are stored")
    return value


def _decode_attrs(obj: dict[str, Any], path: str) -> Any:
    name = _expect(obj["$attrs"], str, path, "$attrs")
    module_name, _, qualname = name.partition(":")
    cls = _find_class(module_name, qualname) if qualname else None
    if not isinstance(cls, type) or not attrs.has(cls):
        reason = "is not an attrs class" if cls is not None else "is not loaded"
        _corrupt(path, f"class {name[:100]!r} {reason} (stored data never imports modules)")
    stored = _expect(obj.get("fields"), dict, path, f"the fields of {name!r}")
    by_name = {field.name: field for field in attrs.fields(cls) if field.init}
    unknown = sorted(set(stored) - set(by_name))
    if unknown:
        _corrupt(path, f"class {name!r} has no init fields {unknown!r}")
    values = {by_name[k].alias: _decode(v, f"{path}.{k}") for k, v in stored.items()}
    try:
        return cls(**values)
    except Exception as exc:
        _corrupt(path, f"class {name!r} refused the stored fields: {type(exc).__name__}: {exc}")


_DECODERS: dict[str, tuple[Callable[[dict[str, Any], str], Any], frozenset[str]]] = {
    "$tuple": (_decode_tuple, frozenset()),
    "$dict": (_decode_dict, frozenset()),
    "$int": (_decode_int, frozenset()),
    "$datetime": (_decode_datetime, frozenset({"tz", "fold"})),
    "$date": (lambda obj, path: _canonical(path, "$date", date.fromisoformat, obj), frozenset()),
    "$decimal": (lambda obj, path: _canonical(path, "$decimal", _parse_decimal, obj), frozenset()),
    "$uuid": (lambda obj, path: _canonical(path, "$uuid", UUID, obj), frozenset()),
    "$attrs": (_decode_attrs, frozenset({"fields"})),
}


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("an object has a duplicate key")
    return out


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _load(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except RecursionError:
        _corrupt("", "the JSON is nested too deeply")
    except ValueError as exc:
        _corrupt("", f"not valid JSON: {exc}")


def decode_arguments(text: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments back from encode_arguments' text (None -> ((), {})).

    :raises InvalidJobDataError: the text is not what :func:`encode_arguments` writes,
        or names an attrs class that is not loaded or does not accept its fields.
    """
    if text is None:
        return (), {}
    if not isinstance(text, str):
        _corrupt("", f"expected a str, got {_type_name(text)}")
    document = _expect(_load(text), dict, "", "the document")
    extra = set(document) - {"args", "kwargs"}
    if extra:
        _corrupt("", f"unexpected top-level keys {sorted(extra)!r}")
    args = _expect(document.get("args", []), list, "args", "args")
    kwargs = _expect(document.get("kwargs", {}), dict, "kwargs", "kwargs")
    bad = [key for key in kwargs if not key.isidentifier()]
    if bad:
        _corrupt("kwargs", f"keys {bad!r} are not Python identifiers")
    try:
        return (
            tuple(_decode(v, f"args[{i}]") for i, v in enumerate(args)),
            {k: _decode(v, f"kwargs[{k!r}]") for k, v in kwargs.items()},
        )
    except RecursionError:
        _corrupt("", "the values are nested too deeply")
