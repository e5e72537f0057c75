"""The client writes the workers' bytes and enforces the workers' constraints, with its own code
(no import of registry/ at run time): both are compared here on the same records. The registry
answer (a schema id) is given to both serdes' caches, so no server is needed."""
from __future__ import annotations

import pytest

from meshstream_client import ContractViolation, DecodeError, RegistryUnavailable, Settings
from meshstream_client.constraints import check_record
from meshstream_client.generated.contracts import CONTRACTS
from meshstream_client.payloads import payload_dict
from meshstream_client.serde import Serde
from registry import constraints as worker_constraints
from registry.manifest import collect_named_types, default_manifest
from registry.serde import AvroSerde
from tests.unit.contracts.test_codegen import sample
from tests.unit.test_typescript_client import CASES

DEAD_REGISTRY = "http://127.0.0.1:9/apis/ccompat/v7"


def _serdes(contract_name: str, sid: int = 42):
    ours = Serde(Settings(registry_url=DEAD_REGISTRY))
    theirs = AvroSerde(client=None)
    info, contract = CONTRACTS[contract_name], default_manifest().by_name(contract_name)
    ours._ids[info.subject], ours._writers[sid] = sid, info.parsed_schema
    theirs._ids[contract.subject], theirs._writers[sid] = sid, contract.parsed_schema
    return ours, theirs, info, contract


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_same_bytes_as_the_workers_for_every_contract(name):
    ours, theirs, info, contract = _serdes(name)
    assert info.schema == contract.schema_str and info.topic == contract.topic
    record = sample(contract.schema, collect_named_types(contract.schema))
    try:
        worker_constraints.check_record(contract.schema, record)
    except worker_constraints.ConstraintViolation as exc:  # the generic sample breaks a limit: both refuse it
        with pytest.raises(ContractViolation) as ours_refused:
            ours.encode(info, record)
        assert ours_refused.value.field == exc.field
        return
    data = ours.encode(info, record)
    assert data == theirs.encode(contract, record)
    assert ours.decode(data, info) == theirs.decode(data, contract)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_constraint_verdicts_as_the_workers(case):
    record = CASES[case]
    contract = default_manifest().by_name("etsy-listing.completed")
    try:
        worker_constraints.check_record(contract.schema, record)
        expected = None
    except worker_constraints.ConstraintViolation as exc:
        expected = (exc.field, exc.reason, exc.constraint)
    try:
        check_record(CONTRACTS["etsy-listing.completed"], record)
        got = None
    except ContractViolation as exc:
        got = (exc.field, exc.reason, exc.constraint)
    assert got == expected
    if case in ("title 141", "14 tags", "duplicate tag", "price 0", "currency lower"):
        assert got is not None


def test_records_that_are_not_events_raise_decode_errors_with_the_workers_codes():
    ours, _, info, _ = _serdes("processing.completed")
    with pytest.raises(DecodeError) as short:
        ours.decode(b"\x00\x00", info)
    with pytest.raises(DecodeError) as magic:
        ours.decode(b"\x07" + bytes(10), info)
    with pytest.raises(DecodeError) as body:
        ours.decode(b"\x00\x00\x00\x00\x2a" + b"\xff" * 3, info)
    assert [e.value.code for e in (short, magic, body)] == ["malformed_event"] * 3


def test_an_unreachable_registry_is_a_client_error_with_its_cause():
    serde = Serde(Settings(registry_url=DEAD_REGISTRY))
    info = CONTRACTS["processing.completed"]
    with pytest.raises(RegistryUnavailable) as err:
        serde.decode(b"\x00\x00\x00\x00\x07" + bytes(8), info)  # schema id 7 must be fetched
    assert err.value.retryable and err.value.__cause__ is not None and "unreachable" in str(err.value)


def test_a_payload_dict_gets_the_schema_defaults_and_is_refused_before_the_registry():
    info = CONTRACTS["discovery-scan.requested"]
    filled = payload_dict(info, {"scan_id": "s", "storage": "default", "bucket": "models",
                                 "options": {"printers": ["prusa-mk4"], "listing": {"who_made": "i_did"}}})
    assert (filled["workflow"], filled["prefix"], filled["provider"]) == ("standard", "", "s3")
    assert filled["options"]["skip_cache"] is False and filled["options"]["listing"]["price"] is None
    from meshstream_client.generated import common, etsy

    typed = common.ProcessingOptions(printers=["prusa-mk4"], listing=common.ListingOptions(who_made=etsy.EtsyWhoMade.i_did))
    assert payload_dict(info, {"scan_id": "s", "storage": "default", "bucket": "models", "options": typed}) == filled
    with pytest.raises(ContractViolation) as unknown:
        payload_dict(info, {"scan_id": "s", "storage": "default", "bucket": "b", "options": {"skip_cahce": True}})
    assert unknown.value.field == "payload.options.skip_cahce"
    with pytest.raises(ContractViolation) as missing:
        payload_dict(info, {"scan_id": "s", "storage": "default"})
    assert missing.value.field == "payload.bucket"
    with pytest.raises(ContractViolation) as symbol:
        payload_dict(info, {"scan_id": "s", "storage": "default", "bucket": "b", "options": {"listing": {"who_made": "robot"}}})
    assert symbol.value.field == "payload.options.listing.who_made" and "i_did" in symbol.value.reason


def test_a_broken_constraint_is_refused_before_any_registry_or_broker_io():
    from meshstream_client import Publisher

    pub = Publisher(settings=Settings(registry_url=DEAD_REGISTRY, kafka_bootstrap="127.0.0.1:9"))
    with pytest.raises(ContractViolation) as err:  # not RegistryUnavailable: nothing was tried
        pub.scan("models", "x/", options={"overhang_angle_deg": 95.0})
    assert err.value.field == "payload.options.overhang_angle_deg" and err.value.constraint == "maximum"
    with pytest.raises(ContractViolation, match="unknown contract 'scan.requested'"):
        pub.publish("scan.requested", "k", {}, correlation_id="c")
    with pytest.raises(ContractViolation, match="bucket"):
        pub.scan("", "x/")
