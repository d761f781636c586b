"""The node's own configuration: ``<data dir>/config.toml`` (or ``SWITCHYARD_CONFIG``).

```toml
[sql.connections]
warehouse = "postgresql://reporter@db/warehouse"   # for `sql: {connection: warehouse}`

[smtp]
host = "mail.example.com"
port = 587
starttls = true
username = "switchyard"
password_secret = "smtp_password"   # a key of `switchyard secret set`
from = "switchyard@example.com"
```
Connection URLs are site configuration, not definitions: a definition names a connection.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchyard.engine.errors import SwitchyardError


def config_path(data_dir: Path) -> Path:
    return Path(os.environ.get("SWITCHYARD_CONFIG") or data_dir / "config.toml")


def load(data_dir: Path) -> dict[str, Any]:
    path = config_path(data_dir)
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SwitchyardError("config", f"{path}: {exc}") from exc


@dataclass(frozen=True)
class NodeConfig:
    """The file's tables and its SQL connections, normalised."""

    tables: dict[str, Any] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)


def read(data_dir: Path) -> NodeConfig:
    """The node's config, read from disk: blocking, so async code calls it through
    ``asyncio.to_thread`` (tests/test_loop_hygiene.py checks that)."""
    tables = load(data_dir)
    return NodeConfig(tables, sql_connections(tables))


def sql_connections(config: dict[str, Any]) -> dict[str, str]:
    from switchyard.store.db import normalise_url

    found = (config.get("sql") or {}).get("connections") or {}
    return {str(k): normalise_url(str(v)) for k, v in found.items()}
