"""The crypto helper of infra.privacy (AES-GCM per person, pseudonymous person ids),
and the rule that a submitter enters an event only sealed."""

from __future__ import annotations

import base64

import pytest

from domain.errors import BadInputError
from domain.topic import SealedSubmitter, Topic
from infra.privacy import (
    PersonalDataVault,
    UnreadableError,
    check_person_id,
    new_key,
    open_with,
    person_id_of,
    seal_with,
)
from tests.utils.factories import VILLAGE, in_memory_app, small_directory, staff, submission

SECRET = "a-deployment-secret-of-at-least-32-characters"
CLEAR = {"name": "赵秀兰", "phone": "13800138000"}


def sealed_for(key: bytes, person: str = "p-" + "a" * 32) -> SealedSubmitter:
    return seal_with(key, person, "6f1c1a52-8f5e-4a43-9d0b-6e2b1d9f0c11", CLEAR)


def test_a_sealed_submitter_opens_with_its_key_and_holds_no_clear_text() -> None:
    key = new_key()
    sealed = sealed_for(key)

    assert open_with(key, sealed) == CLEAR
    stored = repr(sealed) + base64.b64decode(sealed["sealed"]).decode("latin-1")
    assert "赵秀兰" not in stored
    assert "13800138000" not in stored
    assert "赵秀兰".encode().decode("latin-1") not in stored


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key = new_key()
    assert sealed_for(key)["sealed"] != sealed_for(key)["sealed"]


def test_a_wrong_key_does_not_open_it() -> None:
    sealed = sealed_for(new_key())
    with pytest.raises(UnreadableError, match="does not open with this key"):
        open_with(new_key(), sealed)


def test_a_ciphertext_moved_to_another_person_does_not_open() -> None:
    key = new_key()
    moved = SealedSubmitter(**{**sealed_for(key), "person_id": "p-" + "b" * 32})
    with pytest.raises(UnreadableError):
        open_with(key, moved)


def test_an_altered_ciphertext_does_not_open() -> None:
    key = new_key()
    sealed = sealed_for(key)
    raw = bytearray(base64.b64decode(sealed["sealed"]))
    raw[-1] ^= 1
    altered = SealedSubmitter(**{**sealed, "sealed": base64.b64encode(bytes(raw)).decode()})
    with pytest.raises(UnreadableError):
        open_with(key, altered)


def test_an_erased_key_shows_the_submitter_as_erased_not_as_an_error() -> None:
    sealed = sealed_for(new_key())
    shown = PersonalDataVault._open(sealed, None)
    assert (shown.person_id, shown.name, shown.phone, shown.erased) == (
        sealed["person_id"],
        None,
        None,
        True,
    )
    assert PersonalDataVault._open(sealed, new_key()).erased  # a wrong key reads as erased


def test_one_person_one_id_whatever_the_phone_formatting() -> None:
    ids = {
        person_id_of(SECRET, "赵秀兰", "13800138000"),
        person_id_of(SECRET, "赵秀兰", "+86 138-0013-8000"),
        person_id_of(SECRET, "赵大妈", "0086 13800138000"),
        person_id_of(SECRET, None, "１３８００１３８０００"),  # full-width digits
    }
    assert len(ids) == 1
    assert check_person_id(ids.pop())


def test_the_person_id_depends_on_the_secret_and_the_person() -> None:
    one = person_id_of(SECRET, "赵秀兰", "13800138000")
    assert one != person_id_of(SECRET + "x", "赵秀兰", "13800138000")
    assert one != person_id_of(SECRET, "赵秀兰", "13900139000")
    assert person_id_of(SECRET, "钱多多", None) != person_id_of(SECRET, "孙小美", None)
    assert "13800138000" not in one


def test_a_submitter_needs_a_name_or_a_phone() -> None:
    with pytest.raises(BadInputError, match="SUBMITTER_EMPTY"):
        person_id_of(SECRET, "  ", "")


def test_a_malformed_person_id_is_refused_naming_the_value() -> None:
    with pytest.raises(BadInputError, match=r"INVALID_PERSON_ID.*'13800138000'"):
        check_person_id("13800138000")


def test_a_topic_refuses_a_submitter_in_clear() -> None:
    with pytest.raises(BadInputError, match=r"SUBMITTER_NOT_SEALED.*'name', 'phone'"):
        Topic.submit(actor=staff(VILLAGE), units=small_directory(), **submission(), submitter=CLEAR)


def test_an_application_without_a_key_store_refuses_personal_data() -> None:
    app = in_memory_app()
    with pytest.raises(BadInputError, match="PERSONAL_DATA_UNAVAILABLE"):
        app.submit_topic(staff(VILLAGE), **submission(), submitter=CLEAR)
    assert app.submit_topic(staff(VILLAGE), **submission()).version == 1  # without: fine
