"""The sounds the verification bench makes: a `Sounds` protocol and a silent fake that records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Sounds(Protocol):
    """Three distinct cues, so a technician looking at the bottle hears the verdict."""

    def stop(self) -> None:
        """Do not use this bottle (wrong drug, expired, recalled, refused)."""

    def warning(self) -> None:
        """Usable after something is done or noticed (confirm, override, short expiry)."""

    def accepted(self) -> None:
        """The bottle was accepted for the fill."""


@dataclass
class SilentSounds:
    """Plays nothing and remembers what it was asked to play: for tests and training mode."""

    played: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.played.append("stop")

    def warning(self) -> None:
        self.played.append("warning")

    def accepted(self) -> None:
        self.played.append("accepted")
