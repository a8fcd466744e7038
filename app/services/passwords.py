"""Argon2 password and PIN hashing with a cost profile chosen in settings.

Production uses argon2-cffi's RFC 9106 defaults (about 0.1 s per check on a workstation).
The test profile is cheap so a suite can log in hundreds of times; it is a settings value,
never a monkeypatch, and hashes made with it are upgraded at the next production login.
"""

from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_PROFILES = {
    "production": lambda: PasswordHasher(),
    "fast-insecure-for-tests": lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}


class SecretHasher:
    def __init__(self, profile: str) -> None:
        self._hasher = _PROFILES[profile]()

    @cached_property
    def _decoy(self) -> str:
        """Verified against when the user name is unknown, so timing does not reveal names.

        Made on first use: hashing costs ~0.1 s that start-up should not pay.
        """
        return self._hasher.hash("decoy password that no one has")

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> bool:
        try:
            return (
                self._hasher.verify(stored_hash or self._decoy, secret) and stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)
