"""ASP.NET-style route templates as the Functions host matches them.

Supported: literal segments (case-insensitive), ``{name}``, optional ``{name?}``, defaults
``{name=value}``, catch-all ``{*name}`` and inline constraints ``{id:int}``, ``{x:alpha:minlength(2)}``
(int, long, bool, guid, alpha, double, float, decimal, datetime, minlength, maxlength, length,
min, max, range, regex). More specific templates win (literal > constrained > plain > optional >
catch-all), as in ASP.NET routing.
"""
from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

_PARAM = re.compile(r"\{([^{}]+)\}")
_CONSTRAINT = re.compile(r"^(\w+)(?:\((.*)\))?$")


class RouteError(ValueError):
    """A route template the host would refuse."""


def _is_number(text: str, cast: Callable[[str], object]) -> bool:
    try:
        cast(text)
        return True
    except ValueError:
        return False


def _is_datetime(text: str) -> bool:
    try:
        datetime.datetime.fromisoformat(text)
        return True
    except ValueError:
        return False


def _is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _int_in(text: str, low: int | None, high: int | None) -> bool:
    if not re.fullmatch(r"[-+]?\d+", text):
        return False
    value = int(text)
    return (low is None or value >= low) and (high is None or value <= high)


def _constraint(spec: str) -> Callable[[str], bool]:
    match = _CONSTRAINT.match(spec)
    if not match:
        raise RouteError(f"invalid route constraint '{spec}'")
    name, arg = match.group(1).lower(), match.group(2)
    args = [a.strip() for a in arg.split(",")] if arg is not None and name != "regex" else []
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _int_in(v, -(2**31), 2**31 - 1),
        "long": lambda v: _int_in(v, -(2**63), 2**63 - 1),
        "bool": lambda v: v.lower() in ("true", "false"),
        "guid": _is_guid,
        "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
        "double": lambda v: _is_number(v, float),
        "float": lambda v: _is_number(v, float),
        "decimal": lambda v: _is_number(v, float),
        "datetime": _is_datetime,
    }
    if name in simple and arg is None:
        return simple[name]
    try:
        if name == "minlength":
            return lambda v: len(v) >= int(args[0])
        if name == "maxlength":
            return lambda v: len(v) <= int(args[0])
        if name == "length":
            return (lambda v: len(v) == int(args[0])) if len(args) == 1 else \
                (lambda v: int(args[0]) <= len(v) <= int(args[1]))
        if name == "min":
            return lambda v: _int_in(v, int(args[0]), None)
        if name == "max":
            return lambda v: _int_in(v, None, int(args[0]))
        if name == "range":
            return lambda v: _int_in(v, int(args[0]), int(args[1]))
        if name == "regex" and arg is not None:
            pattern = re.compile(arg, re.IGNORECASE)
            return lambda v: pattern.search(v) is not None
    except (IndexError, ValueError, re.error) as exc:
        raise RouteError(f"invalid route constraint '{spec}'") from exc
    raise RouteError(f"unknown route constraint '{spec}'")


@dataclass
class _Param:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: list[Callable[[str], bool]] = field(default_factory=list)


def _parse_param(body: str) -> _Param:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    default = None
    if "=" in body:
        body, default = body.split("=", 1)
    optional = body.endswith("?")
    body = body.rstrip("?")
    name, *constraints = body.split(":")
    if not re.fullmatch(r"\w+", name):
        raise RouteError(f"invalid route parameter name '{name}'")
    return _Param(name, optional or default is not None, catch_all, default, [_constraint(c) for c in constraints])


class RouteTemplate:
    """A compiled route template (without the route prefix)."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self.params: list[_Param] = []
        self.rank: tuple[int, ...] = ()
        pattern, ranks = "", []
        segments = self.template.split("/") if self.template else []
        for index, segment in enumerate(segments):
            if not segment:
                raise RouteError(f"route '{template}' has an empty segment")
            sep = "/" if index else ""
            found = list(_PARAM.finditer(segment))
            if len(found) == 1 and found[0].group(0) == segment:
                param = _parse_param(found[0].group(1))
                self.params.append(param)
                body = f"(?P<p{len(self.params) - 1}>.*)" if param.catch_all else f"(?P<p{len(self.params) - 1}>[^/]+)"
                pattern += f"(?:{sep}{body})?" if param.optional or param.catch_all else sep + body
                ranks.append(4 if param.catch_all else 3 if param.optional else 1 if param.checks else 2)
                continue
            piece, last = "", 0
            for match in found:
                piece += re.escape(segment[last:match.start()])
                param = _parse_param(match.group(1))
                self.params.append(param)
                piece += f"(?P<p{len(self.params) - 1}>[^/]+?)"
                last = match.end()
            piece += re.escape(segment[last:])
            pattern += sep + piece
            ranks.append(0 if not found else 1)
        self.rank = tuple(ranks)
        self._regex = re.compile(f"^{pattern}$", re.IGNORECASE | re.DOTALL)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a path (without prefix, percent-encoded), or None."""
        found = self._regex.match(path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for index, param in enumerate(self.params):
            raw = found.group(f"p{index}")
            if raw is None or raw == "":
                if param.default is not None:
                    values[param.name] = param.default
                continue
            value = unquote(raw)
            if not all(check(value) for check in param.checks):
                return None
            values[param.name] = value
        return values

    def sort_key(self) -> tuple[tuple[int, ...], int]:
        """Order in which templates are tried: more specific first."""
        return (self.rank, -len(self.template))
