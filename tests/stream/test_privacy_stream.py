"""Personal data on the Kafka stream: messages carry the person id and the ciphertext,
never the submitter's name or phone; after the person is erased, the messages already
out (and those produced afterwards) no longer open, and the stream goes on."""

from __future__ import annotations

import json
from typing import Any

from domain.topic import SealedSubmitter
from domain.topic_commands import AddComment, DetermineTopic
from infra.bootstrap import Runtime
from infra.stream.relay import Relay
from tests.utils.factories import VILLAGE, staff, submission
from tests.utils.kafka import read_all

NAME, PHONE = "赵秀兰", "13800138000"
OTHER_NAME, OTHER_PHONE = "钱多多", "13900139000"


def publish(runtime: Runtime) -> list[dict[str, Any]]:
    """Relay everything to Kafka and read the whole topic back as a plain client."""
    relay = Relay(runtime, batch_size=100)
    try:
        while relay.publish_once():
            pass
    finally:
        relay.close()
    head = runtime.app.head_position()
    settings = runtime.settings
    assert settings.kafka_bootstrap is not None
    records = read_all(settings.kafka_bootstrap, settings.kafka_topic, head)
    assert len(records) == head
    for record in records:
        for clear in (NAME, PHONE, OTHER_NAME, OTHER_PHONE):
            for form in (clear.encode(), json.dumps(clear).strip('"').encode()):
                assert form not in record.value, (clear, record.value)
    return [json.loads(r.value) for r in records]


def sealed_of(bodies: list[dict[str, Any]], topic: str) -> SealedSubmitter:
    body = next(b for b in bodies if b["topic_id"] == topic and b["type"] == "TopicSubmitted")
    sealed: SealedSubmitter = body["data"]["submitter"]
    return sealed


def test_kafka_messages_carry_only_the_sealed_submitter_before_and_after_erasure(
    stream_runtime: Runtime,
) -> None:
    app, vault, village = stream_runtime.app, stream_runtime.vault, staff(VILLAGE)
    person_topic = app.submit_topic(
        village, **submission(), submitter={"name": NAME, "phone": PHONE}
    ).topic_id
    other_topic = app.submit_topic(
        village,
        **submission(title="张家园垃圾清运不及时"),
        submitter={"name": OTHER_NAME, "phone": OTHER_PHONE},
    ).topic_id

    before = publish(stream_runtime)
    assert any("小区二次供水水压不足" in json.dumps(b, ensure_ascii=False) for b in before)
    sealed = sealed_of(before, str(person_topic))
    assert set(sealed) == {"person_id", "key_id", "sealed"}
    assert vault.open(sealed).name == NAME  # what a consumer holding the key would read

    erased = vault.erase(sealed["person_id"])
    assert erased == [sealed["key_id"]]
    app.handle(village, DetermineTopic(topic_id=person_topic, note="经党组织审核同意列为协商议题"))
    app.handle(village, AddComment(topic_id=person_topic, text="已联系提交人，约定下周回访"))
    app.submit_topic(
        village, **submission(title="畅家巷路灯不亮"), submitter={"name": NAME, "phone": PHONE}
    )

    after = publish(stream_runtime)
    assert len(after) == len(before) + 3
    assert sealed_of(after, str(person_topic)) == sealed  # the event itself is unchanged
    shown = vault.open(sealed)
    assert (shown.name, shown.phone, shown.erased) == (None, None, True)
    assert vault.open(sealed_of(after, str(other_topic))).name == OTHER_NAME
