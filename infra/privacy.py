"""Submitters' personal data (PIPL, DESIGN §10): a key per person, erasable by shredding.

A submitter's name and phone never reach an event in clear. `PersonalDataVault.seal`
derives a pseudonymous **person id** (HMAC-SHA256 of the normalised phone, or of the
name when there is no phone, under a key derived from the deployment secret), finds
or creates that person's AES-256-GCM key in `privacy_keys`, and returns what the
event stores: the person id, the key id and the ciphertext (the person and key ids
are its associated data, so a ciphertext cannot be moved to another person).

`linkage privacy erase --person ID` deletes the key material (the row stays, with
`erased_at`): every ciphertext sealed with it becomes unreadable everywhere at
once, while the events — and so the hash chain over them — stay exactly as they
were. A later submission by the same person gets a fresh key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic

from domain.errors import BadInputError
from domain.topic import SealedSubmitter, Topic

ERASED = "已删除"  # how an erased name or phone is shown to people
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
PERSON_ID = re.compile(r"^p-[0-9a-f]{32}$")
SUBMITTED_TOPIC = get_topic(Topic.TopicSubmitted)
SCAN_PAGE = 2000


class UnreadableError(Exception):
    """The ciphertext does not open with this key (wrong key, or altered)."""


@dataclass(frozen=True, slots=True)
class Submitter:
    """A submitter as an authorised reader sees them; name and phone None when erased."""

    person_id: str
    name: str | None
    phone: str | None
    erased: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "personId": self.person_id,
            "name": self.name,
            "phone": self.phone,
            "erased": self.erased,
        }


@dataclass(frozen=True, slots=True)
class PersonKey:
    key_id: str
    created_at: datetime
    erased_at: datetime | None


# -- the crypto helper ---------------------------------------------------------------------


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _associated(person_id: str, key_id: str) -> bytes:
    return f"linkage submitter|{person_id}|{key_id}".encode()


def seal_with(key: bytes, person_id: str, key_id: str, clear: dict[str, str]) -> SealedSubmitter:
    """`clear` ({"name", "phone"}) sealed with AES-GCM under `key`."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(clear, ensure_ascii=False, sort_keys=True).encode()
    sealed = nonce + AESGCM(key).encrypt(nonce, plain, _associated(person_id, key_id))
    return SealedSubmitter(
        person_id=person_id, key_id=key_id, sealed=base64.b64encode(sealed).decode("ascii")
    )


def open_with(key: bytes, sealed: SealedSubmitter) -> dict[str, str]:
    """The clear name and phone; UnreadableError if `key` is not the one that sealed it."""
    try:
        raw = base64.b64decode(sealed["sealed"], validate=True)
        plain = AESGCM(key).decrypt(
            raw[:NONCE_BYTES],
            raw[NONCE_BYTES:],
            _associated(sealed["person_id"], sealed["key_id"]),
        )
    except (InvalidTag, ValueError) as exc:
        raise UnreadableError(
            f"the submitter of person {sealed['person_id']} does not open with this key"
        ) from exc
    data: dict[str, str] = json.loads(plain)
    return data


def normalise_phone(phone: str) -> str:
    """Digits only, without the +86 / 0086 country prefix of an 11-digit mobile."""
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            return digits[len(prefix) :]
    return digits


def person_basis(name: str | None, phone: str | None) -> str:
    """What identifies a person: the phone if it has digits, else the name."""
    digits = normalise_phone(phone or "")
    if digits:
        return "phone:" + digits
    text = unicodedata.normalize("NFKC", name or "").strip()
    if not text:
        raise BadInputError("SUBMITTER_EMPTY", "a submitter needs a name or a phone")
    return "name:" + text


def person_id_of(secret: str, name: str | None, phone: str | None) -> str:
    pepper = hmac.new(secret.encode(), b"linkage privacy person id", hashlib.sha256).digest()
    digest = hmac.new(pepper, person_basis(name, phone).encode(), hashlib.sha256).hexdigest()
    return "p-" + digest[:32]


def check_person_id(text: str) -> str:
    person = text.strip().lower()
    if not PERSON_ID.match(person):
        raise BadInputError(
            "INVALID_PERSON_ID",
            f"a person id is 'p-' and 32 hex digits (see `linkage privacy find`), not {text!r}",
        )
    return person


# -- the key store ---------------------------------------------------------------------------


class PersonalDataVault:
    """`privacy_keys`: one live key per person; erased keys keep their row, not the key."""

    DDL = (
        "CREATE TABLE IF NOT EXISTS privacy_keys ("
        " key_id uuid PRIMARY KEY,"
        " person_id text NOT NULL,"
        " key bytea,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " erased_at timestamptz,"
        " CHECK ((key IS NULL) = (erased_at IS NOT NULL)))",
        "CREATE UNIQUE INDEX IF NOT EXISTS privacy_keys_live_idx"
        " ON privacy_keys (person_id) WHERE erased_at IS NULL",
        "CREATE INDEX IF NOT EXISTS privacy_keys_person_idx ON privacy_keys (person_id)",
    )
    # One autocommitted statement: the new key, or the person's live key if they have
    # one. Its commit does not wait for the WAL flush (`cfg`): the event that uses the
    # key commits after it, synchronously, and flushing that WAL flushes this too.
    LIVE_KEY = (
        "WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true)),"
        " made AS (INSERT INTO privacy_keys (key_id, person_id, key) VALUES (%s, %s, %s)"
        " ON CONFLICT (person_id) WHERE erased_at IS NULL DO NOTHING RETURNING key_id, key)"
        " SELECT key_id, key FROM made, cfg"
        " UNION ALL SELECT key_id, key FROM privacy_keys"
        " WHERE person_id = %s AND erased_at IS NULL LIMIT 1"
    )
    KEYS_BY_ID = "SELECT key_id, person_id, key FROM privacy_keys WHERE key_id = ANY(%s)"
    KEYS_OF_PERSON = (
        "SELECT key_id, created_at, erased_at FROM privacy_keys"
        " WHERE person_id = %s ORDER BY created_at, key_id"
    )
    ERASE = (
        "UPDATE privacy_keys SET key = NULL, erased_at = now()"
        " WHERE person_id = %s AND erased_at IS NULL RETURNING key_id"
    )

    def __init__(self, datastore: PostgresDatastore, secret: Callable[[], str]) -> None:
        self.datastore = datastore
        self._secret = secret
        self._person_secret: str | None = None

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.DDL:
                curs.execute(statement)

    def close(self) -> None:
        self.datastore.close()

    def person_id(self, name: str | None, phone: str | None) -> str:
        if self._person_secret is None:
            self._person_secret = self._secret()
        return person_id_of(self._person_secret, name, phone)

    # -- sealing and opening -----------------------------------------------------------

    def seal(self, submitter: dict[str, str]) -> SealedSubmitter:
        person = self.person_id(submitter.get("name"), submitter.get("phone"))
        key_id, key = self._live_key(person)
        clear = {k: submitter[k] for k in ("name", "phone") if submitter.get(k)}
        return seal_with(key, person, key_id, clear)

    def _live_key(self, person: str) -> tuple[str, bytes]:
        for _ in range(3):  # a racing first submission of the same person: read it next time
            with self.datastore.get_connection() as conn:  # autocommit
                params = (uuid.uuid4(), person, new_key(), person)
                row = conn.execute(self.LIVE_KEY, params).fetchone()
            if row is not None:
                return str(row["key_id"]), bytes(row["key"])
        raise RuntimeError(f"no live key for person {person} after three tries")

    def open_many(self, sealed: Sequence[SealedSubmitter]) -> list[Submitter]:
        """Each submitter in clear, or marked erased when their key is gone."""
        ids = sorted({s["key_id"] for s in sealed})
        keys: dict[str, bytes | None] = {}
        if ids:
            with self.datastore.get_connection() as conn:  # autocommit: one round trip
                rows = conn.execute(self.KEYS_BY_ID, ([uuid.UUID(i) for i in ids],)).fetchall()
                for row in rows:
                    key = row["key"]
                    keys[str(row["key_id"])] = None if key is None else bytes(key)
        return [self._open(s, keys.get(s["key_id"])) for s in sealed]

    def open(self, sealed: SealedSubmitter) -> Submitter:
        return self.open_many([sealed])[0]

    @staticmethod
    def _open(sealed: SealedSubmitter, key: bytes | None) -> Submitter:
        if key is None:
            return Submitter(sealed["person_id"], None, None, erased=True)
        try:
            clear = open_with(key, sealed)
        except UnreadableError:
            return Submitter(sealed["person_id"], None, None, erased=True)
        return Submitter(sealed["person_id"], clear.get("name"), clear.get("phone"))

    # -- the person's keys ---------------------------------------------------------------

    def keys_of(self, person: str) -> list[PersonKey]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.KEYS_OF_PERSON, (person,))
            rows = curs.fetchall()
        return [PersonKey(str(r["key_id"]), r["created_at"], r["erased_at"]) for r in rows]

    def erase(self, person: str) -> list[str]:
        """Destroy the person's live key(s); the key ids erased now (empty if none were live)."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.ERASE, (person,))
            erased = [str(r["key_id"]) for r in curs.fetchall()]
        if erased:  # reclaim the dead row versions that still held the key bytes
            with self.datastore.get_connection() as conn:  # autocommit, as VACUUM needs
                conn.execute("VACUUM privacy_keys")
        return erased


def submitted_events_of(
    app: Any, person: str, progress: Callable[[int], object] | None = None
) -> list[Topic.TopicSubmitted]:
    """The TopicSubmitted events that name `person`: a scan of the notification log,
    filtered by event type in SQL and decoded by the application's own mapper."""
    found: list[Topic.TopicSubmitted] = []
    start = 1
    while True:
        page = app.recorder.select_notifications(
            start, SCAN_PAGE, topics=[SUBMITTED_TOPIC], inclusive_of_start=True
        )
        for notification in page:
            event = app.mapper.to_domain_event(notification)
            submitter = event.submitter
            if submitter and submitter.get("person_id") == person:
                found.append(event)
        if progress and page:
            progress(page[-1].id - start + 1)
        if len(page) < SCAN_PAGE:
            return found
        start = page[-1].id + 1
