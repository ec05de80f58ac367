"""Distributed mode: the event stream on Kafka (relay, projector, messages)."""


class StreamError(Exception):
    """The relay or projector cannot go on; the message names the cause and the event."""
