"""Validate Google Calendar v3 requests and answers against the contract subset (dev tooling only).

The subset (``devhost/googlestandin/contract/calendar-v3-subset.json``, extracted from the discovery
document google-api-python-client ships, by ``tools/google_contract.py``) lists the methods bookbridge calls
and the schemas they reach. A body is valid when every property exists on its schema (objects are closed
unless the schema has ``additionalProperties``), nested ``$ref`` / ``array`` / map values are valid
recursively, ``enum`` values are members, ``date-time`` / ``date`` strings parse, integers stay within
``minimum``/``maximum`` and primitives have the right JSON type. A request's query parameters must be the
method's own or the discovery document's global ones, of the right type; a method's
``annotations.required`` properties (``start``/``end`` of ``events.insert``) must be present.

Usage::

    from devhost.google_contract import load_contract
    contract = load_contract()
    method = contract.method_for("POST", "/calendar/v3/calendars/primary/events")   # "calendar.events.insert"
    problems = contract.check_request(method, {"conferenceDataVersion": "1"}, body)
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

CONTRACT_PATH = Path(__file__).resolve().parent / "googlestandin" / "contract" / "calendar-v3-subset.json"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class Problem:
    """One contract violation: a JSON path (``$.attendees[0].email``) and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class GoogleContract:
    """The loaded Calendar v3 subset with validation methods."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.source: dict[str, Any] = dict(data["source"])
        self.methods: dict[str, dict[str, Any]] = dict(data["methods"])
        self.schemas: dict[str, dict[str, Any]] = dict(data["schemas"])
        self.global_parameters: dict[str, dict[str, Any]] = dict(data["parameters"])
        self.scopes: dict[str, Any] = dict(data["scopes"])
        self.oauth: dict[str, Any] = dict(data["oauth"])
        self._patterns = [(mid, m["httpMethod"], self._pattern(m["path"])) for mid, m in self.methods.items()]

    def _pattern(self, path: str) -> re.Pattern[str]:
        service = "/" + str(self.source["servicePath"]).strip("/") + "/"
        regex = re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(service + path))
        return re.compile(f"^{regex}$")

    def method_for(self, http_method: str, path: str) -> str | None:
        """The method id (``calendar.events.insert``) of a request path (``/calendar/v3/...``), or ``None``."""
        for mid, verb, pattern in self._patterns:
            if verb == http_method.upper() and pattern.match(path):
                return mid
        return None

    def path_parameters(self, method_id: str, path: str) -> dict[str, str]:
        """The path parameters of ``path`` for ``method_id`` (decoded)."""
        template = "/" + str(self.source["servicePath"]).strip("/") + "/" + self.methods[method_id]["path"]
        names = re.findall(r"\{([A-Za-z]+)\}", template)
        match = self._pattern(self.methods[method_id]["path"]).pattern
        groups = re.match(match.replace("[^/]+", "([^/]+)"), path)
        return {n: unquote(v) for n, v in zip(names, groups.groups() if groups else (), strict=False)}

    # ------------------------------------------------------------------ bodies
    def validate(self, value: Any, schema: str | Mapping[str, Any], path: str = "$") -> list[Problem]:
        """Problems of ``value`` against a schema name (``"Event"``) or an inline schema."""
        spec: Mapping[str, Any] = {"$ref": schema} if isinstance(schema, str) else schema
        if "$ref" in spec:
            ref = str(spec["$ref"])
            if ref not in self.schemas:
                return [Problem(path, f"unknown schema {ref}")]
            spec = self.schemas[ref]
        kind = spec.get("type")
        if kind == "any" or kind is None and "properties" not in spec:
            return []
        if kind == "object" or "properties" in spec:
            return self._object(value, spec, path)
        if kind == "array":
            if not isinstance(value, list):
                return [Problem(path, "expected an array")]
            items = spec.get("items", {})
            return [p for i, item in enumerate(value) for p in self.validate(item, items, f"{path}[{i}]")]
        return self._primitive(value, spec, path)

    def _object(self, value: Any, spec: Mapping[str, Any], path: str) -> list[Problem]:
        if not isinstance(value, dict):
            return [Problem(path, "expected an object")]
        props: Mapping[str, Any] = spec.get("properties") or {}
        extra = spec.get("additionalProperties")
        problems: list[Problem] = []
        for key, item in value.items():
            if key in props:
                problems += self.validate(item, props[key], f"{path}.{key}")
            elif extra is not None:
                problems += self.validate(item, extra, f"{path}.{key}")
            else:
                problems.append(Problem(f"{path}.{key}", "no such property in Google Calendar v3"))
        return problems

    def _primitive(self, value: Any, spec: Mapping[str, Any], path: str) -> list[Problem]:
        kind, fmt = spec.get("type"), spec.get("format")
        if kind == "boolean":
            return [] if isinstance(value, bool) else [Problem(path, "expected a boolean")]
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                return [Problem(path, "expected an integer")]
            return self._range(value, spec, path)
        if kind == "number":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return [] if ok else [Problem(path, "expected a number")]
        if not isinstance(value, str):
            return [Problem(path, "expected a string")]
        if spec.get("enum") and value not in spec["enum"]:
            return [Problem(path, f"{value!r} is not one of {spec['enum']}")]
        if fmt == "date-time" and not _DATE_TIME.match(value):
            return [Problem(path, f"{value!r} is not an RFC 3339 date-time")]
        if fmt == "date" and not _DATE.match(value):
            return [Problem(path, f"{value!r} is not a date (yyyy-mm-dd)")]
        return []

    @staticmethod
    def _range(value: int, spec: Mapping[str, Any], path: str) -> list[Problem]:
        if "minimum" in spec and value < int(spec["minimum"]):
            return [Problem(path, f"{value} is below the minimum {spec['minimum']}")]
        if "maximum" in spec and value > int(spec["maximum"]):
            return [Problem(path, f"{value} is above the maximum {spec['maximum']}")]
        return []

    # ------------------------------------------------------------------ requests
    def check_query(self, method_id: str, query: Mapping[str, str]) -> list[Problem]:
        """Problems of a request's query parameters (strings, as they arrive)."""
        params: Mapping[str, Any] = self.methods[method_id].get("parameters") or {}
        problems: list[Problem] = []
        for name, raw in query.items():
            spec = params.get(name) or self.global_parameters.get(name)
            if spec is None or spec.get("location") == "path":
                problems.append(Problem(f"?{name}", f"not a parameter of {method_id}"))
                continue
            problems += self._parameter(name, raw, spec)
        return problems

    def _parameter(self, name: str, raw: str, spec: Mapping[str, Any]) -> list[Problem]:
        kind = spec.get("type")
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [Problem(f"?{name}", "expected an integer")]
            return self._range(int(raw), spec, f"?{name}")
        if kind == "boolean" and raw not in ("true", "false"):
            return [Problem(f"?{name}", "expected true or false")]
        return self._primitive(raw, {k: v for k, v in spec.items() if k != "type"} | {"type": "string"},
                               f"?{name}")

    def check_request(self, method_id: str, query: Mapping[str, str], body: Any) -> list[Problem]:
        """Problems of one request: its query, and its body against the method's request schema (with the
        properties the method requires)."""
        method = self.methods[method_id]
        problems = self.check_query(method_id, query)
        request = method.get("request")
        if request is None:
            if body is not None:
                problems.append(Problem("$", f"{method_id} takes no body"))
            return problems
        if body is None:
            return [*problems, Problem("$", f"{method_id} needs a {request['$ref']} body")]
        problems += self.validate(body, request["$ref"])
        if isinstance(body, dict):
            props = self.schemas[request["$ref"]].get("properties") or {}
            for name, spec in props.items():
                if method_id in ((spec.get("annotations") or {}).get("required") or ()) and name not in body:
                    problems.append(Problem(f"$.{name}", f"required by {method_id}"))
        return problems

    def check_response(self, method_id: str, body: Any) -> list[Problem]:
        """Problems of a 2xx answer's body against the method's response schema."""
        response = self.methods[method_id].get("response")
        if response is None:
            return [] if body in (None, "", b"") else [Problem("$", f"{method_id} answers no body")]
        return self.validate(body, response["$ref"])

    # ------------------------------------------------------------------ OAuth
    def check_token_response(self, body: Mapping[str, Any]) -> list[Problem]:
        """Problems of a token endpoint answer (success or error)."""
        if "error" in body:
            spec = self.oauth["token_error"]
            problems = [Problem(f"$.{k}", "not a documented token error field")
                        for k in body if k not in spec["fields"]]
            if body["error"] not in spec["errors"]:
                problems.append(Problem("$.error", f"{body['error']!r} is not a documented token error"))
            return problems
        spec = self.oauth["token_response"]
        problems = [Problem(f"$.{k}", "not a documented token response field") for k in body if k not in spec["fields"]]
        problems += [Problem(f"$.{k}", "required in a token response") for k in spec["required"] if k not in body]
        if body.get("token_type") not in spec["token_type"]:
            problems.append(Problem("$.token_type", "must be Bearer"))
        return problems

    def check_token_request(self, form: Mapping[str, str]) -> list[Problem]:
        """Problems of a token endpoint request (form fields) for its ``grant_type``."""
        spec = self.oauth["token_request"].get(str(form.get("grant_type") or ""))
        if spec is None:
            return [Problem("grant_type", f"{form.get('grant_type')!r} is not a documented grant type")]
        allowed = set(spec["required"]) | set(spec["optional"])
        problems = [Problem(k, "not a documented token request field") for k in form if k not in allowed]
        return problems + [Problem(k, "required") for k in spec["required"] if not form.get(k)]


_LOCK = threading.Lock()
_LOADED: dict[str, GoogleContract] = {}


def load_contract(path: str | Path | None = None) -> GoogleContract:
    """The contract (cached per path)."""
    key = str(path or CONTRACT_PATH)
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = GoogleContract(json.loads(Path(key).read_text(encoding="utf-8")))
        return _LOADED[key]
