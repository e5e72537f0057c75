"""Generated dataclasses (the Python client's typed payloads) round-trip every contract through Avro."""
from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pytest

from meshstream_client.generated import BY_TOPIC, EVENTS
from registry.manifest import collect_named_types, default_manifest

REPO = Path(__file__).resolve().parents[3]


def sample(node, named, ns=None):
    """A value of every branch-last union / last enum symbol: exercises the non-null paths."""
    if isinstance(node, list):
        return sample(node[-1], named, ns)
    if isinstance(node, str):
        simple = {"null": None, "boolean": True, "int": 7, "long": 7, "float": 1.5, "double": 2.5,
                  "string": "s", "bytes": b"b"}
        if node in simple:
            return simple[node]
        return sample(named.get(node) or named[f"{ns}.{node}"], named, ns)
    t = node["type"]
    if isinstance(t, (dict, list)):
        return sample(t, named, ns)
    if node.get("logicalType") == "timestamp-millis":
        return 1_700_000_000_123
    if t in ("null", "boolean", "int", "long", "float", "double", "string", "bytes"):
        return sample(t, named, ns)
    if t == "array":
        return [sample(node["items"], named, ns)]
    if t == "map":
        return {"k": sample(node["values"], named, ns)}
    if t == "enum":
        return node["symbols"][-1]
    full = node["name"] if "." in node["name"] else f"{node.get('namespace', ns)}.{node['name']}"
    return {f["name"]: sample(f["type"], named, full.rsplit(".", 1)[0]) for f in node["fields"]}


def _roundtrip(schema, record):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, schema)


@pytest.mark.parametrize("contract", default_manifest().contracts, ids=lambda c: c.name)
def test_dataclass_roundtrip(contract):
    cls = EVENTS[contract.name]
    assert (cls.TOPIC, cls.SUBJECT, cls.STATUS) == (contract.topic, contract.subject, contract.status)
    decoded = _roundtrip(contract.parsed_schema, sample(contract.schema, collect_named_types(contract.schema)))
    obj = cls.from_avro(decoded)
    assert _roundtrip(contract.parsed_schema, obj.to_avro()) == decoded
    assert cls.from_avro(obj.to_avro()) == obj


def test_defaults_and_enums_are_typed():
    from meshstream_client.generated import common, thumbnails_v1

    p = thumbnails_v1.ThumbnailsRequestedPayload(run_id="r", model_id="m", files=[
        common.ObjectRef(storage="s", bucket="b", key="k")])
    assert p.sizes == [256, 512] and p.generate_360_views is True
    assert p.preview_type is thumbnails_v1.PreviewType.standard
    assert p.to_avro()["preview_type"] == "standard"
    q = thumbnails_v1.ThumbnailsRequestedPayload(run_id="r", model_id="m", files=[])
    q.sizes.append(1024)
    assert p.sizes == [256, 512]  # defaults are not shared between instances


def test_generated_check_enforces_constraints():
    from meshstream_client import ContractViolation
    from meshstream_client.generated import etsy_listing_v1

    cls = etsy_listing_v1.EtsyListingCompleted
    decoded = sample(default_manifest().by_name(cls.CONTRACT).schema,
                     collect_named_types(default_manifest().by_name(cls.CONTRACT).schema))
    decoded["payload"]["listing"].update(title="x" * 141, when_made="made_to_order", tags=["ok"],
                                         materials=["PLA"], images=[])
    decoded["payload"]["listing"]["price"]["currency_code"] = "USD"
    event = cls.from_avro(decoded)
    with pytest.raises(ContractViolation) as err:
        event.check()
    assert err.value.field == "payload.listing.title"


def test_topic_index_covers_the_manifest():
    assert set(BY_TOPIC) == {c.topic for c in default_manifest().contracts}


# The TypeScript side (tsc --strict build, same bytes, same constraints): tests/unit/test_typescript_client.py
