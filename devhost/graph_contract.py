"""Validate JSON bodies against the Microsoft Graph v1.0 contract subset (dev tooling only).

The subset (``../shared/graph-contract/graph-v1.0-subset.json`` beside the checkout, or the
file named by ``GRAPH_CONTRACT_PATH``) lists types, enums and actions. A body is valid when
every property exists on its type (following the ``base`` chain), nested complex types and
``Collection(...)`` values are valid recursively, enum values are members of their enum and
primitive values have the right JSON type. ``@odata.*`` annotations are allowed.

Open types (``"open": true``) are treated as closed: bookbridge may only use declared
properties (SPEC, "Microsoft contracts"). Action parameter names are case-insensitive.

Usage::

    from devhost.graph_contract import validate, validate_action
    assert validate({"subject": "x"}, "event") == []
    problems = validate_action("getSchedule", {"schedules": [...]}, binding="calendar")
"""
from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_COLLECTION = re.compile(r"^Collection\((?P<inner>.+)\)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,12})?)?$")
_DTO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DURATION = re.compile(r"^-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_INT_RANGES = {"Edm.Byte": (0, 255), "Edm.SByte": (-128, 127), "Edm.Int16": (-(2**15), 2**15 - 1),
               "Edm.Int32": (-(2**31), 2**31 - 1), "Edm.Int64": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class Problem:
    """One contract violation: a JSON path (``$.attendees[0].type``), a message and a kind."""

    path: str
    message: str
    kind: str = "invalid"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def default_contract_path() -> Path:
    """``GRAPH_CONTRACT_PATH`` if set, else ``<repo root>/../shared/graph-contract/graph-v1.0-subset.json``."""
    env = os.environ.get("GRAPH_CONTRACT_PATH")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[1]
    return repo_root.parent / "shared" / "graph-contract" / "graph-v1.0-subset.json"


def _short(name: str) -> str:
    """``#microsoft.graph.event`` / ``graph.event`` / ``event`` -> ``event``."""
    name = name.lstrip("#")
    for prefix in ("microsoft.graph.", "graph."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


class GraphContract:
    """The loaded contract subset with validation methods."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.types: dict[str, dict[str, Any]] = dict(data.get("types", {}))
        self.enums: dict[str, list[str]] = dict(data.get("enums", {}))
        self.actions: dict[str, list[dict[str, Any]]] = dict(data.get("actions", {}))

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> GraphContract:
        """Read the contract file (default: :func:`default_contract_path`)."""
        with open(path or default_contract_path(), encoding="utf-8") as fh:
            return cls(json.load(fh))

    # -- type lookups -------------------------------------------------------------------------
    def has_type(self, name: str) -> bool:
        """Whether a structured type of that name is in the subset."""
        return _short(name) in self.types

    def base_chain(self, name: str) -> list[str]:
        """The type and its bases, most derived first (short names)."""
        chain: list[str] = []
        current: str | None = _short(name)
        while current and current in self.types and current not in chain:
            chain.append(current)
            base = self.types[current].get("base")
            current = _short(base) if base else None
        return chain

    def properties(self, name: str) -> dict[str, dict[str, Any]]:
        """All structural properties of a type, including those of its base chain."""
        props: dict[str, dict[str, Any]] = {}
        for t in reversed(self.base_chain(name)):
            props.update(self.types[t].get("properties", {}))
        return props

    def navigation(self, name: str) -> dict[str, str]:
        """All navigation properties of a type (name -> type), including the base chain."""
        nav: dict[str, str] = {}
        for t in reversed(self.base_chain(name)):
            nav.update(self.types[t].get("navigation") or {})
        return nav

    # -- validation ---------------------------------------------------------------------------
    def validate(self, body: Any, type_name: str, *, path: str = "$") -> list[Problem]:
        """Problems of ``body`` as a value of ``type_name`` (``event``, ``Collection(graph.event)``...)."""
        problems: list[Problem] = []
        self._check_value(body, type_name if "." in type_name or type_name.startswith("Collection(")
                          or type_name.startswith("Edm.") else f"graph.{_short(type_name)}",
                          path, problems, nullable=True)
        return problems

    def _check_value(self, value: Any, type_ref: str, path: str, out: list[Problem], *, nullable: bool) -> None:
        if value is None:
            if not nullable:
                out.append(Problem(path, "null is not allowed here", "null"))
            return
        m = _COLLECTION.match(type_ref)
        if m:
            if not isinstance(value, list):
                out.append(Problem(path, f"expected a JSON array for {type_ref}", "type"))
                return
            for i, item in enumerate(value):
                self._check_value(item, m.group("inner"), f"{path}[{i}]", out, nullable=True)
            return
        if type_ref.startswith("Edm."):
            self._check_primitive(value, type_ref, path, out)
            return
        short = _short(type_ref)
        if short in self.enums:
            if not isinstance(value, str) or value not in self.enums[short]:
                out.append(Problem(path, f"{value!r} is not a member of enum microsoft.graph.{short}", "enum"))
            return
        if short not in self.types:
            out.append(Problem(path, f"type microsoft.graph.{short} is outside the contract subset", "unknown_type"))
            return
        self._check_object(value, short, path, out)

    def _check_object(self, value: Any, short: str, path: str, out: list[Problem]) -> None:
        if not isinstance(value, dict):
            out.append(Problem(path, f"expected a JSON object for microsoft.graph.{short}", "type"))
            return
        declared = value.get("@odata.type")
        if isinstance(declared, str):
            derived = _short(declared)
            if derived not in self.types:
                out.append(Problem(f"{path}.@odata.type", f"type {declared} is outside the contract subset",
                                   "unknown_type"))
                return
            if short not in self.base_chain(derived):
                out.append(Problem(f"{path}.@odata.type", f"{declared} does not derive from microsoft.graph.{short}",
                                   "type"))
                return
            short = derived
        props = self.properties(short)
        nav = self.navigation(short)
        for key, item in value.items():
            sub = f"{path}.{key}"
            if key.startswith("@"):
                if not key.startswith("@odata."):
                    out.append(Problem(sub, f"annotation {key!r} is not an @odata.* annotation", "unknown_property"))
                continue
            if "@" in key:
                owner, _, annotation = key.partition("@")
                if owner not in props and owner not in nav:
                    out.append(Problem(sub, f"annotation on unknown property {owner!r} of microsoft.graph.{short}",
                                       "unknown_property"))
                elif not annotation.startswith("odata."):
                    out.append(Problem(sub, f"annotation {key!r} is not an @odata.* annotation", "unknown_property"))
                continue
            if key in props:
                spec = props[key]
                self._check_value(item, spec["type"], sub, out, nullable=bool(spec.get("nullable", True)))
            elif key in nav:
                self._check_value(item, nav[key], sub, out, nullable=True)
            else:
                out.append(Problem(sub, f"The property '{key}' does not exist on type 'microsoft.graph.{short}'.",
                                   "unknown_property"))

    @staticmethod
    def _check_primitive(value: Any, edm: str, path: str, out: list[Problem]) -> None:
        ok = True
        if edm in ("Edm.String", "Edm.Stream", "Edm.Binary"):
            ok = isinstance(value, str)
        elif edm == "Edm.Boolean":
            ok = isinstance(value, bool)
        elif edm in _INT_RANGES:
            lo, hi = _INT_RANGES[edm]
            ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        elif edm in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in ("NaN", "INF", "-INF")
        elif edm == "Edm.DateTimeOffset":
            ok = isinstance(value, str) and bool(_DTO.match(value))
        elif edm == "Edm.Date":
            ok = isinstance(value, str) and bool(_DATE.match(value))
        elif edm == "Edm.TimeOfDay":
            ok = isinstance(value, str) and bool(_TIME.match(value))
        elif edm == "Edm.Guid":
            ok = isinstance(value, str) and bool(_GUID.match(value))
        elif edm == "Edm.Duration":
            ok = isinstance(value, str) and bool(_DURATION.match(value))
        if not ok:
            out.append(Problem(path, f"{value!r} is not a valid {edm}", "type"))

    # -- actions ------------------------------------------------------------------------------
    def _overloads(self, action: str, binding: str | None) -> list[dict[str, Any]]:
        overloads = self.actions.get(action, [])
        if binding is None:
            return overloads
        want = _short(binding)
        chosen = []
        for ov in overloads:
            params = ov.get("parameters", [])
            if ov.get("bound") and params and params[0]["name"] == "bindingParameter":
                m = _COLLECTION.match(params[0]["type"])
                bound_to = _short(m.group("inner") if m else params[0]["type"])
                if bound_to == want or bound_to in self.base_chain(want):
                    chosen.append(ov)
        return chosen

    def validate_action(self, action: str, params: Any, *, binding: str | None = None) -> list[Problem]:
        """Problems of ``params`` as the body of bound action ``action`` (names case-insensitive).

        ``binding`` (``event``, ``calendar``, ``onlineMeeting``) picks the overload; without it the
        overload that fits best is used.
        """
        overloads = self._overloads(action, binding)
        if not overloads:
            where = f" bound to microsoft.graph.{_short(binding)}" if binding else ""
            return [Problem("$", f"action {action!r}{where} is outside the contract subset", "unknown_action")]
        if not isinstance(params, dict):
            return [Problem("$", "action parameters must be a JSON object", "type")]
        best: list[Problem] | None = None
        for ov in overloads:
            problems = self._check_action(ov, params)
            if best is None or len(problems) < len(best):
                best = problems
        return best or []

    def _check_action(self, overload: dict[str, Any], params: dict[str, Any]) -> list[Problem]:
        out: list[Problem] = []
        spec = {p["name"].lower(): p for p in overload.get("parameters", []) if p["name"] != "bindingParameter"}
        seen: dict[str, str] = {}
        for key, value in params.items():
            if key.startswith("@odata."):
                continue
            low = key.lower()
            if low in seen:
                out.append(Problem(f"$.{key}", f"parameter given twice ({seen[low]!r} and {key!r})", "duplicate"))
                continue
            seen[low] = key
            if low not in spec:
                out.append(Problem(f"$.{key}", f"The parameter '{key}' is not in scope of the action.",
                                   "unknown_property"))
                continue
            p = spec[low]
            self._check_value(value, p["type"], f"$.{key}", out, nullable=bool(p.get("nullable", True)))
        for low, p in spec.items():
            if not p.get("nullable", True) and low not in seen:
                out.append(Problem(f"$.{p['name']}", f"required parameter '{p['name']}' is missing", "required"))
        return out

    def canonical_params(self, action: str, params: Mapping[str, Any], *, binding: str | None = None) -> dict[str, Any]:
        """``params`` keyed by the contract's spelling (``schedules`` -> ``Schedules``); unknown keys kept."""
        names: dict[str, str] = {}
        for ov in self._overloads(action, binding):
            for p in ov.get("parameters", []):
                names.setdefault(p["name"].lower(), p["name"])
        return {names.get(k.lower(), k): v for k, v in params.items()}


_lock = threading.Lock()
_cache: dict[str, GraphContract] = {}


def load_contract(path: str | os.PathLike[str] | None = None) -> GraphContract:
    """The contract at ``path`` (default: :func:`default_contract_path`), loaded once per process."""
    key = str(Path(path or default_contract_path()).resolve())
    with _lock:
        if key not in _cache:
            _cache[key] = GraphContract.load(key)
        return _cache[key]


def validate(body: Any, type_name: str, *, contract: GraphContract | None = None) -> list[Problem]:
    """Problems of ``body`` as a ``type_name`` (empty list = valid)."""
    return (contract or load_contract()).validate(body, type_name)


def validate_action(action: str, params: Any, *, binding: str | None = None,
                    contract: GraphContract | None = None) -> list[Problem]:
    """Problems of ``params`` as the parameters of action ``action`` (empty list = valid)."""
    return (contract or load_contract()).validate_action(action, params, binding=binding)
