"""The topics read model: `topic_summary`, `topic_visibility` and `inbox`.

* `view` — the tables (columns declared once, on `Summary`), how each event
  changes them (HANDLERS beside `domain.topic.LIFECYCLE`) and `replay` for asOf;
* `rows` — `TopicRow` and its parts as the API reads them;
* `queries` — a topic, topics by filter, cross-level topics, an inbox, each with
  visibility in its SQL (`VISIBLE`).
"""

from projections.topics.view import Summary, TopicsView, replay

__all__ = ["Summary", "TopicsView", "replay"]
