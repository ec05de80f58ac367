"""GraphQL global ids (`Node.id`): base64 of "Type:key", opaque to clients."""

from __future__ import annotations

import base64
import binascii

NODE_TYPES = ("Topic", "Unit", "ConsultationPlan")


def global_id(kind: str, key: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_global_id(value: str) -> tuple[str, str] | None:
    """(type, key), or None when `value` is not a global id of ours."""
    padded = value + "=" * (-len(value) % 4)
    try:
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    kind, sep, key = text.partition(":")
    if not sep or kind not in NODE_TYPES or not key or not key.isprintable():
        return None
    return kind, key
