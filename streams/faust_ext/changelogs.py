"""Which table of a Faust app writes a changelog topic, asked by the producer and the changelog guard.

Faust names each table's changelog after the app and the table; this is the one place that maps
a topic name back to its table, so the producer's key routing (transport.WorkerProducer) and the
exit on a lost changelog write (changelog_guard.ChangelogGuard) cannot disagree on it.
"""
from __future__ import annotations


def tables_by_changelog(app) -> dict:
    """Every table of `app` by the name of its changelog topic."""
    return {table.changelog_topic.get_topic_name(): table for table in app.tables.values()}
