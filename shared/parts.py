"""``Part``: one lazily built, replaceable part of the composition root (``shared.bootstrap.Container``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Part(Generic[T]):
    """A part of the container: given (constructor argument or assignment), else built on first use."""

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    def __get__(self, container: Any, owner: type | None = None) -> T:
        value: T | None = container.__dict__.get(self._slot)
        if value is None:
            value = self._build(container)
            container.__dict__[self._slot] = value
            container.__dict__[f"{self._slot}_built"] = True
        return value

    @staticmethod
    def built(container: Any, name: str) -> bool:
        """True when the part ``name`` was built by the container (not given by a test or benchmark)."""
        return bool(container.__dict__.get(f"_{name}_built"))

    def __set__(self, container: Any, value: T) -> None:
        container.__dict__[self._slot] = value
        container.__dict__.pop(f"{self._slot}_built", None)
