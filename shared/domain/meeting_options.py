"""A calendar's Teams meeting options (SPEC rule 25): lobby, presenters, recording. Pure.

Microsoft's pages "lobbyBypassSettings resource type" and "onlineMeeting: createOrGet": a meeting created
through Graph lets only the organisation bypass the lobby by default, so an external invitee waits for a
host who may not be there. A calendar may ask for other options; anything but ``tenant_default`` is
applied by ``PATCH /me/onlineMeetings/{id}`` right after the meeting exists and read back from the answer:
where the tenant's policy keeps another value, the booking records that override.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TENANT_DEFAULT = "tenant_default"
LOBBY_BYPASS = (TENANT_DEFAULT, "organizer", "organization", "everyone")
ALLOWED_PRESENTERS = (TENANT_DEFAULT, "organizer", "everyone")


@dataclass(frozen=True)
class MeetingOptions:
    """``meeting_options`` of a calendar; the defaults leave the tenant's meeting policy alone."""

    lobby_bypass: str = TENANT_DEFAULT
    allowed_presenters: str = TENANT_DEFAULT
    record_automatically: bool = False

    def __post_init__(self) -> None:
        if self.lobby_bypass not in LOBBY_BYPASS:
            raise ValueError(f"lobby_bypass must be one of {', '.join(LOBBY_BYPASS)}")
        if self.allowed_presenters not in ALLOWED_PRESENTERS:
            raise ValueError(f"allowed_presenters must be one of {', '.join(ALLOWED_PRESENTERS)}")
        if not isinstance(self.record_automatically, bool):
            raise ValueError("record_automatically must be true or false")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> MeetingOptions:
        """From the API's / storage's dict (missing keys: the defaults); ``ValueError`` on bad values."""
        data = data or {}
        return cls(lobby_bypass=str(data.get("lobby_bypass", TENANT_DEFAULT)),
                   allowed_presenters=str(data.get("allowed_presenters", TENANT_DEFAULT)),
                   record_automatically=data.get("record_automatically", False))

    def to_dict(self) -> dict[str, Any]:
        """The API's field names."""
        return {"lobby_bypass": self.lobby_bypass, "allowed_presenters": self.allowed_presenters,
                "record_automatically": self.record_automatically}

    @property
    def is_default(self) -> bool:
        """True when nothing is to be applied to the meeting."""
        return self.graph_patch() == {}

    def graph_patch(self) -> dict[str, Any]:
        """The ``onlineMeeting`` PATCH body of the options that are not ``tenant_default``."""
        patch: dict[str, Any] = {}
        if self.lobby_bypass != TENANT_DEFAULT:
            patch["lobbyBypassSettings"] = {"scope": self.lobby_bypass}
        if self.allowed_presenters != TENANT_DEFAULT:
            patch["allowedPresenters"] = self.allowed_presenters
        if self.record_automatically:
            patch["recordAutomatically"] = True
        return patch

    def overridden_by(self, meeting: Mapping[str, Any]) -> list[str]:
        """The options the meeting read back does not carry (the tenant's policy kept another value)."""
        kept: list[str] = []
        lobby = (meeting.get("lobbyBypassSettings") or {}).get("scope")
        if self.lobby_bypass != TENANT_DEFAULT and lobby != self.lobby_bypass:
            kept.append(f"lobby_bypass: asked {self.lobby_bypass}, the organisation's policy kept {lobby or 'unknown'}")
        presenters = meeting.get("allowedPresenters")
        if self.allowed_presenters != TENANT_DEFAULT and presenters != self.allowed_presenters:
            kept.append(f"allowed_presenters: asked {self.allowed_presenters}, the organisation's policy kept "
                        f"{presenters or 'unknown'}")
        if self.record_automatically and meeting.get("recordAutomatically") is not True:
            kept.append("record_automatically: asked true, the organisation's policy does not allow it")
        return kept
