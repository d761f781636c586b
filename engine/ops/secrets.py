"""Secrets, encrypted with Fernet. The key lives in a 0600 file beside the data.

Several nodes on one PostgreSQL database must share the key: point
``SWITCHYARD_SECRET_KEY_FILE`` at the same key file on every node.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from switchyard.engine.errors import SwitchyardError
from switchyard.store import filemodes

if TYPE_CHECKING:  # cryptography is imported on first use: most calls never need it
    from cryptography.fernet import Fernet

KEY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,199}$")
MASK = "****"


MIN_LENGTH = 8  # a shorter secret is guessable, and masking it shreds every log line


def check_value(value: str) -> str:
    """A secret's value: 8+ characters, no NUL (it could not go into an environment)."""
    if not value:
        raise SwitchyardError("value", "empty secret (pipe the value on standard input)")
    if "\0" in value:
        raise SwitchyardError("value", "a secret may not contain a NUL character")
    if len(value) < MIN_LENGTH:
        raise SwitchyardError(
            "value", f"a secret needs at least {MIN_LENGTH} characters (got {len(value)})"
        )
    return value


def check_key(key: str) -> str:
    if not KEY_NAME.match(key):
        raise SwitchyardError(
            "key", f"'{key}' is not a valid secret name (letters, digits, _ . -; max 200)"
        )
    return key


class SecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecretBox:
        override = os.environ.get("SWITCHYARD_SECRET_KEY_FILE")
        return cls(Path(override) if override else data_dir / "secret.key")

    def _load(self) -> Fernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            if not self.key_file.exists():
                filemodes.private_dir(self.key_file.parent)
                fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.fchmod(fd, filemodes.FILE_MODE)  # whatever the umask
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
            self._fernet = Fernet(self.key_file.read_bytes().strip())
        return self._fernet

    def encrypt(self, value: str) -> bytes:
        return self._load().encrypt(value.encode())

    def decrypt(self, key: str, token: bytes) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._load().decrypt(token).decode()
        except InvalidToken as exc:
            raise SwitchyardError(
                f"secret:{key}",
                f"cannot be decrypted with the key in {self.key_file} (was it made with another key?)",
            ) from exc
