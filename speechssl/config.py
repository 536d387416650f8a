"""Typed configs: dataclasses loaded from YAML, overridden with ``key.sub=value`` strings.

Unknown keys are errors (no silently ignored options); the resolved config is saved with each run.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from speechssl.io.atomic import atomic_write_text

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override does not match the dataclass; the message names the key."""


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Convert a YAML value to ``annotation`` (dataclass, list, tuple, Optional, scalar)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, options[0], where)
    if value is None and annotation is not Any:
        raise ConfigError(f"{where}: a value is required (null is not allowed here)")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(annotation)
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(_convert(v, a, where) for v, a in zip(value, args))
        item = args[0] if args else Any
        converted = [_convert(v, item, where) for v in value]
        return tuple(converted) if origin is tuple else converted
    if origin is dict or annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, str):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if annotation in (int, float, str):
        try:
            if annotation is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return annotation(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}") from None
    return value


def from_dict(cls: type[T], values: dict, where: str = "config") -> T:
    """Build dataclass ``cls`` from a nested dict; unknown keys raise ConfigError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(names)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def to_dict(config: Any) -> dict:
    """Nested plain dict (tuples become lists) suitable for YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return plain(config)


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested dict, in place."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep:
            raise ConfigError(f"override '{override}': expected key=value")
        node = values
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{override}': '{part}' is not a section")
        try:
            node[parts[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise ConfigError(f"override '{override}': the value is not valid YAML ({_yaml_problem(error)})") from None
    return values


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line of a PyYAML error: what is wrong, and where (1-based line and column)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def read_yaml_mapping(path: str | os.PathLike | None) -> dict:
    """The top-level mapping of a YAML config file ({} when ``path`` is None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML, {_yaml_problem(error)}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return values


def load_config(
    cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None
) -> T:
    """Load ``cls`` from a YAML file (or defaults when ``path`` is None) plus overrides.

    Missing keys take the dataclass defaults; the override ``a.b=c`` wins over the file.
    """
    values = read_yaml_mapping(path)
    # Defaults first so that overrides of nested sections merge instead of replacing them.
    merged = _merge(to_dict(cls()), values)
    apply_overrides(merged, overrides or [])
    return from_dict(cls, merged, where=str(path) if path else cls.__name__)


def _merge(base: dict, update: dict) -> dict:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = value
    return base


def save_config(config: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(to_dict(config), sort_keys=False))
