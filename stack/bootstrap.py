"""Prepare a Kafka cluster and an S3 server for meshstream: the one-shot `init` service of
docker-compose.yml (and anyone deploying onto their own cluster).

    python -m stack.bootstrap --brokers 3 --bucket models --samples models/samples/

1. waits until the cluster has `--brokers` brokers registered (a topic created earlier would be
   placed on fewer brokers than it should be replicated to);
2. creates the schema registry's journal topics with infinite retention (stack/services.py says
   why), before the registry starts;
3. creates the buckets, and with `--samples BUCKET/PREFIX` uploads the bundled sample models
   there, so `meshstream scan --bucket models --prefix samples/` works on a fresh deployment.
Reads the usual MESHSTREAM_* settings (Kafka, S3). Idempotent: a second run changes nothing.
"""
from __future__ import annotations

import argparse
import io
import sys
import time

from streams.core.security import kafka_client_config
from streams.core.settings import Settings


def wait_for_brokers(client_config: dict, brokers: int, timeout: float) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**client_config, "log_level": 0})
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        try:
            seen = len(admin.list_topics(timeout=5).brokers)
        except Exception:  # noqa: BLE001 - not up yet
            seen = 0
        if seen >= brokers:
            return seen
        time.sleep(1)
    raise TimeoutError(f"{seen} of {brokers} Kafka brokers registered after {timeout:.0f}s")


def upload_samples(client, bucket: str, prefix: str) -> int:
    from processors.samples import sample_models

    samples = sample_models()
    for key, data in samples.items():
        client.put_object(bucket, prefix + key, io.BytesIO(data), len(data))
    return len(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=int, default=1, help="wait until this many brokers are registered")
    parser.add_argument("--bucket", action="append", default=[], help="a bucket to create (repeatable)")
    parser.add_argument("--samples", metavar="BUCKET/PREFIX", help="upload the bundled sample models there")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args(argv)

    from processors.storage import connect, ensure_bucket
    from stack.services import create_registry_topics

    settings = Settings()
    config = kafka_client_config(settings)
    print(f"kafka: {wait_for_brokers(config, args.brokers, args.timeout)} brokers", flush=True)
    created = create_registry_topics(config)
    print(f"registry topics created: {', '.join(created) or 'none (present)'}", flush=True)

    s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    buckets = list(args.bucket)
    if args.samples:
        bucket, _, prefix = args.samples.partition("/")
        buckets.append(bucket)
    for bucket in dict.fromkeys(buckets):
        ensure_bucket(s3, bucket)
    print(f"buckets: {', '.join(dict.fromkeys(buckets)) or 'none asked'}", flush=True)
    if args.samples:
        n = upload_samples(s3, bucket, prefix.rstrip("/") + "/" if prefix else "")
        print(f"uploaded {n} sample files to s3://{args.samples}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
