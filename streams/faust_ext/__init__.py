"""The quarantine: every place meshstream reads or overrides a private part of Faust, mode or
aiokafka lives in this package, and nowhere else (tests/unit/faust_ext/ pins each one against
the locked versions: faust-streaming 0.15.3, aiokafka 0.14.0).

| module | private part touched | why | public-API alternative (and why not used) |
| --- | --- | --- | --- |
| batches.py | `asyncio.Queue._queue[0]` of a Faust stream's channel | peek at the next queued event to know whether Faust's iterator will yield or skip it (older generation, suspended flow), so a batch never pulls in an event Faust would drop | `Stream.take(n, within=t)`: waits for a batch to fill or a timer, adding latency to a lone event and its own task per stream |
| transport.py | `Fetcher._fetch_min_bytes` / `_fetch_max_wait_ms` (set), `ConsumerThread._fetch_records` (override) | adaptive fetch batching: a busy consumer fetches up to 64 KiB or 500 ms at once (ADR 0006) | `consumer_max_fetch_size` and friends in Faust's settings: fixed for the consumer's life, so a quiet pipeline would wait 500 ms per hop |
| transport.py | `Consumer.wait_first` (override, recognises Faust's drain loop by its two coroutines), `Conductor._tp_to_callback_lock`, `Conductor._topics` | deliver a fetched record directly when it cannot block, instead of four tasks per record (ADR 0007) | none in Faust 0.15: the drain loop is internal |
| transport.py | `AIOKafkaConsumer._subscription.subscription.assignment` | read every assigned partition's position in one call (lag gauges) and skip the livelock check of a partition being reset (aiokafka asserted and crashed the worker) | `AIOKafkaConsumer.position(tp)`: awaits a reset (one ListOffsets round trip per partition, behind the fetch long-poll) |
| transport.py | `Consumer._new_offset` (override), `Consumer._acked`, `Consumer._unacked_messages` | never commit past a record a stream took and has not acked (Faust checks the head loosely: not at all before the first commit, and with a tolerance of one), so a worker lost mid-step leaves its request to the next owner (issue 18) | none: the commit offset is Faust's internal bookkeeping |
| transport.py | `ConsumerThread.seek_to_committed` (override) | rewind partitions that have no committed offset (see committed_seek.py; faust-streaming#629) | `AIOKafkaConsumer.seek_to_committed`: skips offset 0 |
| transport.py | `ConsumerThread.on_thread_stop` (override), `AIOKafkaConsumer._coordinator` (`member_id`, `group_id`, `coordinator_id`), `AIOKafkaConsumer._client.send` | a worker stopped while its group rebalances sends LeaveGroup at once, on a connection not parked behind its pending JoinGroup; aiokafka sends it only after the join completes and only with a generation, so the group waited for the member's session to expire (tests/integration/test_leave_group.py: 0.0 s instead of 20 s) | `AIOKafkaConsumer.stop()`: the late, conditional LeaveGroup described |
| monitor.py | `Monitor._sampler` (override) | drop Faust's per-second sampler task and per-event stats nobody reads | `faust.App(monitor=...)` is public; the sampler is not configurable |

When a Faust or aiokafka upgrade breaks one of these, the pinning test names it; the fix stays
in this package.
"""
