"""Secrets, as the facade offers them (mixed into ``Engine``): set (encrypted, only the
name in the event log), list names, and the decrypted values for the runner."""

from __future__ import annotations

from switchyard.engine.kernel import eventlog
from switchyard.engine.kernel import events as ev
from switchyard.engine.ops.secrets import SecretBox, check_key, check_value
from switchyard.engine.people.guard import Guard
from switchyard.engine.people.rules import (
    admin,
    rule,
    unchecked,
)
from switchyard.engine.views import (
    SecretView,
)
from switchyard.store.queries import secrets as secret_q


class SecretsApi(Guard):
    secret_box: SecretBox  # Engine's (ops/secrets.py)

    # -------------------------------------------------------------- secrets
    @rule(admin("set secrets"))
    async def set_secret(self, key: str, value: str) -> None:
        check_key(key)
        check_value(value)
        token = self.secret_box.encrypt(value)
        async with self.tx() as tx:
            existed = await secret_q.get(tx.conn, key) is not None
            await secret_q.put(tx.conn, key, token, tx.now)
            tx.emit(ev.SECRET_CHANGED, key)  # never the value
            verb = "changed" if existed else "added"
            await eventlog.record(
                tx, eventlog.SECRET_CHANGED, f"secret {key} {verb}", name=key, change=verb
            )

    @rule(admin("list secrets"))
    async def secrets(self) -> list[SecretView]:
        async with self.store.read() as conn:
            return [SecretView(k, t) for k, t in await secret_q.list_keys(conn)]

    @unchecked("internal: the runner's environments and log masking, never shown")
    async def secret_values(self) -> dict[str, str]:
        """Every secret, decrypted: for the runner's environment and its log masking."""
        async with self.store.read() as conn:
            tokens = await secret_q.all_ciphertexts(conn)
        return {k: self.secret_box.decrypt(k, t) for k, t in tokens.items()}
