"""The deployment secret: `LINKAGE_SECRET`, or the embedded installation's own key.

Tokens are signed with it (`api.auth`) and person ids are keyed with it (`infra.privacy`),
so it lives below both. In embedded mode a key is generated once and kept in
`LINKAGE_HOME/secret` (readable by its owner only). Distributed mode requires
`LINKAGE_SECRET`, since every api process must verify the same tokens.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from infra.settings import Settings, SettingsError


def signing_secret(settings: Settings) -> str:
    """LINKAGE_SECRET, or the embedded installation's own key (created on first use)."""
    if settings.secret:
        return settings.secret
    if not settings.embedded:
        raise SettingsError(
            "LINKAGE_SECRET is required when LINKAGE_DATABASE_URL is set "
            "(every api process must sign and verify with the same key)"
        )
    path = settings.home / "secret"
    if not path.exists():
        _create_private(path, secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


def _create_private(path: Path, text: str) -> None:
    """Write `text` to `path` (mode 0600) unless it exists: the first of racing callers —
    threads or processes — wins, and every caller then reads the same key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    temporary.touch(mode=0o600)
    try:
        temporary.write_text(text, encoding="utf-8")
        os.link(temporary, path)  # atomic, and never replaces an existing key
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
