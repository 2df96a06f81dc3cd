"""Checks a server event against its TypedDict in conversations.events (the protocol's schema)."""

import types
import typing
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin, get_type_hints

from conversations.events import AGENT_EVENTS, AGENT_INNER_EVENTS, SERVER_EVENTS


class ProtocolViolation(AssertionError):
    pass


def _check(value: Any, annotation: Any, path: str) -> None:
    origin = get_origin(annotation)
    if origin in (NotRequired, Required):
        return _check(value, get_args(annotation)[0], path)
    if annotation is Any:
        return None
    if origin is Literal:
        if value not in get_args(annotation):
            raise ProtocolViolation(f"{path}: {value!r} not one of {get_args(annotation)}")
        return None
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(annotation):
            try:
                return _check(value, option, path)
            except ProtocolViolation as exc:
                errors.append(str(exc))
        raise ProtocolViolation(f"{path}: {value!r} matches none of {errors}")
    if annotation is type(None):
        if value is not None:
            raise ProtocolViolation(f"{path}: expected null, got {value!r}")
        return None
    if origin is list:
        if not isinstance(value, list):
            raise ProtocolViolation(f"{path}: expected a list, got {value!r}")
        for index, item in enumerate(value):
            _check(item, get_args(annotation)[0], f"{path}[{index}]")
        return None
    if typing.is_typeddict(annotation):
        return check_typeddict(value, annotation, path)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProtocolViolation(f"{path}: expected a number, got {value!r}")
        return None
    if annotation is int and isinstance(value, bool):
        raise ProtocolViolation(f"{path}: expected an int, got a bool")
    if not isinstance(value, annotation):
        raise ProtocolViolation(f"{path}: expected {annotation.__name__}, got {value!r}")
    return None


def check_typeddict(value: Any, schema: type, path: str) -> None:
    if not isinstance(value, dict):
        raise ProtocolViolation(f"{path}: expected an object, got {value!r}")
    hints = get_type_hints(schema, include_extras=True)
    required = schema.__required_keys__  # type: ignore[attr-defined]
    missing = required - value.keys()
    if missing:
        raise ProtocolViolation(f"{path}: missing {sorted(missing)}")
    extra = value.keys() - hints.keys()
    if extra:
        raise ProtocolViolation(f"{path}: fields not in the protocol: {sorted(extra)}")
    for key, item in value.items():
        _check(item, hints[key], f"{path}.{key}")


def assert_event(event: dict[str, Any]) -> dict[str, Any]:
    """Raise unless `event` is exactly one of the documented server events; return it."""
    kind = event.get("type") if isinstance(event, dict) else None
    if kind not in SERVER_EVENTS:
        raise ProtocolViolation(f"unknown event type {kind!r} in {event!r}")
    check_typeddict(event, SERVER_EVENTS[kind], kind)
    return event


def assert_agent_event(frame: dict[str, Any]) -> dict[str, Any]:
    """Raise unless `frame` is one of the documented agent-socket frames; return it."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    if kind not in AGENT_EVENTS:
        raise ProtocolViolation(f"unknown agent frame type {kind!r} in {frame!r}")
    check_typeddict(frame, AGENT_EVENTS[kind], kind)
    if kind == "event":
        inner = frame["event"]
        inner_kind = inner.get("type")
        if inner_kind not in AGENT_INNER_EVENTS:
            raise ProtocolViolation(f"event.{inner_kind!r} may not reach agents")
        check_typeddict(inner, AGENT_INNER_EVENTS[inner_kind], f"event.{inner_kind}")
    return frame
