"""Secrets at rest: Fernet (from `cryptography`) under CASEROOM_SECRET_KEY.

CASEROOM_SECRET_KEY holds one or more Fernet keys (urlsafe base64 of 32 bytes, as
`Fernet.generate_key()` makes them), comma-separated, newest first. The newest encrypts; every one
decrypts (MultiFernet), so a key is rotated by putting a new one in front, running
`SecretBox.rotate` over the stored values (bot/tenancy.py does it when it reads an older token), and
dropping the old key later. A value that no key opens is `Undecryptable`: never shown, never logged.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(ValueError):
    """CASEROOM_SECRET_KEY is missing or not a list of Fernet keys; the message says which."""


class Undecryptable(Exception):
    """A stored secret that none of the keys in CASEROOM_SECRET_KEY opens."""


def generate_key() -> str:
    """A new Fernet key (for the README and tests)."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise SecretKeyError("CASEROOM_SECRET_KEY is empty: set one or more Fernet keys, newest first")
        fernets: list[Fernet] = []
        for index, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise SecretKeyError(
                    f"CASEROOM_SECRET_KEY: key {index} of {len(parts)} is not a Fernet key (32 bytes, "
                    "urlsafe "
                    "base64; make one with: python -c \"from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())\")"
                ) from None
        self._newest = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    def encrypt(self, value: str) -> str:
        return self._all.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise Undecryptable("a stored secret could not be decrypted with CASEROOM_SECRET_KEY") from None

    def needs_rotation(self, token: str) -> bool:
        """Whether `token` was made with an older key than the newest one."""
        try:
            self._newest.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError):
            return True
        return False

    def rotate(self, token: str) -> str:
        """The same secret, re-encrypted with the newest key."""
        try:
            return self._all.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise Undecryptable("a stored secret could not be decrypted with CASEROOM_SECRET_KEY") from None
