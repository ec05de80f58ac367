"""The chain's hashes and anchors, without a database."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from infra.chain import GENESIS_HASH, content_hash, link_hash
from infra.chain_findings import parse_anchor

TOPIC_ID = uuid.UUID("0f6c2d8e-1a2b-4c3d-9e8f-0123456789ab")


def test_the_content_hash_covers_id_version_position_topic_and_state_unambiguously() -> None:
    topic = "domain.topic:Topic.CommentAdded"
    expected = hashlib.sha256(
        TOPIC_ID.bytes
        + (3).to_bytes(8, "big")
        + (41).to_bytes(8, "big")
        + len(topic).to_bytes(4, "big")
        + topic.encode()
        + "已联系供电所".encode()
    ).digest()

    assert content_hash(TOPIC_ID, 3, 41, topic, "已联系供电所".encode()) == expected
    # moving bytes between the topic and the state changes the hash (the length is covered)
    assert content_hash(TOPIC_ID, 3, 41, "ab", b"c") != content_hash(TOPIC_ID, 3, 41, "a", b"bc")
    assert content_hash(TOPIC_ID, 3, 42, topic, b"") != content_hash(TOPIC_ID, 3, 41, topic, b"")


def test_a_link_covers_the_previous_hash_and_position() -> None:
    content = content_hash(TOPIC_ID, 1, 1, "t", b"s")
    first = link_hash(GENESIS_HASH, 0, content)

    assert first == hashlib.sha256(bytes(32) + bytes(8) + content).digest()
    assert link_hash(first, 1, content) != link_hash(first, 2, content)


def test_an_anchor_is_a_position_and_64_hex_digits() -> None:
    assert parse_anchor("50283:" + "ab" * 32) == (50283, bytes.fromhex("ab" * 32))


@pytest.mark.parametrize("text", ["", "12", "12:abc", "0:" + "ab" * 32, "x:" + "ab" * 32, "12:zz"])
def test_a_malformed_anchor_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="an anchor is POSITION:HASH") as caught:
        parse_anchor(text)
    assert repr(text) in str(caught.value)
