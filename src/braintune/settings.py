"""Settings owners: every setting lives in one dataclass beside the code that uses it.

An owner declares each field's default, its help (``field(metadata={"help": ...})``) and
its validation (``__post_init__`` raising ConfigError with a message that starts with the
field's name). Study configs (``from_mapping``) and command-line flags (``add_arguments``,
``from_arguments``) are derived from the owners, so nothing restates a default.

An owner may declare ``RESULT_NEUTRAL``: the fields that do not change what it computes
(batch sizes, caches, devices); cache keys leave them out (``result_settings``). It may also
declare ``KEYED_WHEN_SET``: fields added after keys were first recorded whose defaults
reproduce the earlier results; they enter a key only when set to another value, so the
results cached before they existed stay valid. An owner's ``neutral_fields()`` may name the
fields its other values make irrelevant (LoRA's settings when no adapter trains).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, get_args, get_origin

from braintune.errors import ConfigError


def field_types(cls) -> dict[str, Any]:
    """Field name -> resolved type annotation of dataclass `cls`."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _optional(kind) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) of an annotation such as `float | None`."""
    if get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(get_args(kind))
        return kind, type(None) in get_args(kind)
    return kind, False


def _number(value, kind, key: str):
    if isinstance(value, str):  # YAML 1.1 reads 2e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if kind is int:
        if not float(value).is_integer():
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return int(value)
    return float(value)


def coerce(value, kind, key: str):
    """`value` as the annotated type `kind` where that is unambiguous; else ConfigError naming `key`."""
    inner, nullable = _optional(kind)
    if value is None:
        if nullable or inner is Any:
            return None
        raise ConfigError(f"{key}: a value is required")
    if get_origin(inner) in (typing.Union, types.UnionType):  # e.g. str | list[int]: the first that fits
        for option in get_args(inner):
            try:
                return coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {inner}, got {value!r}")
    if inner is Any:
        return value
    if inner is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if inner in (int, float):
        return _number(value, inner, key)
    if inner is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    origin = get_origin(inner)
    if origin in (list, tuple):
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        (item,) = get_args(inner)[:1] or (Any,)
        out = [coerce(v, item, f"{key}[{i}]") for i, v in enumerate(items)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        key_type, value_type = get_args(inner)
        return {coerce(k, key_type, key): coerce(v, value_type, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(inner):
        return from_mapping(inner, value, f"{key}.")
    return value


def from_mapping(cls, values: dict | None, where: str = ""):
    """Build owner `cls` from a mapping (a config section): unknown keys, wrong types and
    invalid values are a ConfigError naming the key as `where + field`."""
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{where.rstrip('.') or 'config'}: expected a mapping, got {values!r}")
    kinds = field_types(cls)
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(where + k for k in unknown)}"
                          f" (known: {', '.join(sorted(kinds))})")
    kwargs = {name: coerce(value, kinds[name], where + name) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


def to_dict(settings) -> dict:
    """Plain nested dict of an owner (tuples as lists), as YAML and JSON hold it."""
    def plain(value):
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value
    return {k: plain(v) for k, v in dataclasses.asdict(settings).items()}


def result_settings(settings) -> dict:
    """to_dict(settings) without the fields its owner declares RESULT_NEUTRAL, nor those of
    KEYED_WHEN_SET at their defaults: what a cache key covers."""
    owner = type(settings)
    neutral = set(getattr(owner, "RESULT_NEUTRAL", ()))
    values = to_dict(settings)
    defaults = to_dict(owner()) if getattr(owner, "KEYED_WHEN_SET", ()) else {}
    neutral |= {k for k in getattr(owner, "KEYED_WHEN_SET", ()) if values[k] == defaults[k]}
    neutral |= settings.neutral_fields() if hasattr(settings, "neutral_fields") else set()
    return {k: v for k, v in values.items() if k not in neutral}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls, skip: tuple[str, ...] = ()) -> None:
    """One `--field-name` flag per field of owner `cls` (help and default from the owner).

    Flags default to None ("not given"), so `from_arguments` keeps the owner's defaults.
    """
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        inner, _ = _optional(field_types(cls)[f.name])
        if get_origin(inner) in (typing.Union, types.UnionType):  # e.g. list[str] | dict: the flag takes the list
            inner = next(a for a in get_args(inner) if get_origin(a) in (list, tuple))
        default = getattr(defaults, f.name)
        help_text = f.metadata.get("help", "")
        choices = f.metadata.get("choices")
        shown = ", ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        if len(shown) <= 40:
            help_text = f"{help_text} (default: {shown})" if help_text else f"default: {shown}"
        if inner is bool:
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif get_origin(inner) in (list, tuple):
            parser.add_argument(_flag(f.name), nargs="+", default=None, help=help_text, choices=choices)
        else:
            parser.add_argument(_flag(f.name), default=None, help=help_text, choices=choices,
                                type=inner if inner in (int, float) else str)


def from_arguments(cls, args: argparse.Namespace, base=None, skip: tuple[str, ...] = ()):
    """Owner `cls` from parsed flags (see add_arguments) over `base` (default: the owner's defaults)."""
    base = cls() if base is None else base
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
             if f.name not in skip and getattr(args, f.name, None) is not None}
    values = {**to_dict(base), **{k: v for k, v in given.items()}}
    return from_mapping(cls, values)
