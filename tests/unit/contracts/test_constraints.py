"""meshstream.* constraints: enforced with the field named, before anything reaches a broker."""
from __future__ import annotations


import pytest

from registry import constraints as C
from registry.manifest import default_manifest


def envelope():
    return {"event_id": "e", "correlation_id": "r", "causation_id": None, "occurred_at": 0,
            "producer": {"service": "test", "version": "1"}}


def listing(**overrides):
    base = {"title": "Articulated dragon, 3D printable STL", "description": "A dragon.",
            "tags": ["dragon", "3d print", "articulated"], "materials": ["PLA"],
            "who_made": "i_did", "when_made": "made_to_order", "is_supply": False, "taxonomy_id": 1,
            "price": {"amount": 1250, "divisor": 100, "currency_code": "USD"}, "quantity": 1,
            "listing_type": "download", "images": []}
    return {**base, **overrides}


def etsy_event(**overrides):
    return {"envelope": envelope(), "payload": {"run_id": "r", "model_id": "m", "listing": listing(**overrides), "files": []}}


@pytest.fixture(scope="module")
def etsy():
    return default_manifest().by_name("etsy-listing.completed")


def test_valid_listing_passes(etsy):
    C.check_record(etsy.schema, etsy_event())
    C.check_record(etsy.schema, etsy_event(title="x" * 140, tags=["t" * 20] * 1 + [f"tag {i}" for i in range(12)]))


def test_141_character_title_names_the_field(etsy):
    with pytest.raises(C.ConstraintViolation) as err:
        C.check_record(etsy.schema, etsy_event(title="x" * 141))
    assert err.value.field == "payload.listing.title"
    assert isinstance(err.value, ValueError)
    assert "payload.listing.title" in str(err.value) and "140" in str(err.value) and "141" in str(err.value)


@pytest.mark.parametrize("overrides,field,constraint", [
    ({"tags": [f"tag{i}" for i in range(14)]}, "payload.listing.tags", "maxItems"),
    ({"tags": ["ok", "t" * 21]}, "payload.listing.tags[1]", "maxLength"),
    ({"tags": ["under_score"]}, "payload.listing.tags[0]", "pattern"),
    ({"tags": ["dup", "dup"]}, "payload.listing.tags[1]", "uniqueItems"),
    ({"tags": [""]}, "payload.listing.tags[0]", "minLength"),
    ({"materials": ["m" * 46]}, "payload.listing.materials[0]", "maxLength"),
    ({"price": {"amount": 0, "divisor": 100, "currency_code": "USD"}}, "payload.listing.price.amount", "exclusiveMinimum"),
    ({"price": {"amount": -5, "divisor": 100, "currency_code": "USD"}}, "payload.listing.price.amount", "exclusiveMinimum"),
    ({"price": {"amount": 100, "divisor": 100, "currency_code": "usd"}}, "payload.listing.price.currency_code", "pattern"),
    ({"when_made": "2020"}, "payload.listing.when_made", "pattern"),
    ({"title": "50% off, 100% fun"}, "payload.listing.title", "pattern"),
    ({"title": "line\nbreak"}, "payload.listing.title", "pattern"),
    ({"title": ""}, "payload.listing.title", "minLength"),
    ({"taxonomy_id": 0}, "payload.listing.taxonomy_id", "minimum"),
    ({"quantity": 1000}, "payload.listing.quantity", "maximum"),
    ({"images": [{"storage": "s", "bucket": "b", "key": str(i)} for i in range(11)]}, "payload.listing.images", "maxItems"),
])
def test_each_etsy_limit(etsy, overrides, field, constraint):
    with pytest.raises(C.ConstraintViolation) as err:
        C.check_record(etsy.schema, etsy_event(**overrides))
    assert (err.value.field, err.value.constraint) == (field, constraint), str(err.value)


@pytest.mark.parametrize("when", ["made_to_order", "2020_2026", "2020_2025", "2010_2019", "2007_2009",
                                  "before_2007", "2000_2006", "1990s", "1900s", "1800s", "1700s", "before_1700"])
def test_when_made_accepts_etsys_values_across_years(etsy, when):
    C.check_record(etsy.schema, etsy_event(when_made=when))


def test_nullable_fields_are_checked_only_when_set():
    c = default_manifest().by_name("etsy-listing.requested")
    payload = {"run_id": "r", "model_id": "m", "name": "n", "files": [], "metadata": None, "printability_score": None,
               "sellability_score": None, "images": [], "who_made": "i_did", "when_made": "made_to_order",
               "taxonomy_id": None, "price": None, "listing_type": "download"}
    C.check_record(c.schema, {"envelope": envelope(), "payload": payload})
    with pytest.raises(C.ConstraintViolation) as err:
        C.check_record(c.schema, {"envelope": envelope(), "payload": {**payload, "printability_score": 101}})
    assert err.value.field == "payload.printability_score"
    with pytest.raises(C.ConstraintViolation) as err:
        C.check_record(c.schema, {"envelope": envelope(), "payload": {
            **payload, "price": {"amount": 0, "divisor": 100, "currency_code": "EUR"}}})
    assert err.value.field == "payload.price.amount"


def test_array_item_bounds():
    c = default_manifest().by_name("thumbnails.requested")
    payload = {"run_id": "r", "model_id": "m", "owner_id": None, "files": [{"storage": "s", "bucket": "b", "key": "k"}],
               "preview_type": "standard", "sizes": [256, 4096], "generate_360_views": True, "turntable_frames": 8,
               "skip_cache": False}
    with pytest.raises(C.ConstraintViolation) as err:
        C.check_record(c.schema, {"envelope": envelope(), "payload": payload})
    assert err.value.field == "payload.sizes[1]" and err.value.constraint == "maximum"


def _schema(**props):
    return {"type": "record", "name": "R", "namespace": "t", "fields": [{"name": "x", **props}]}


@pytest.mark.parametrize("props,match", [
    ({"type": "string", "meshstream.maxLen": 3}, "unknown constraint meshstream.maxLen"),
    ({"type": "int", "meshstream.maxLength": 3}, "cannot apply to int"),
    ({"type": "string", "meshstream.pattern": "("}, "does not compile"),
    ({"type": "string", "meshstream.maxLength": -1}, "non-negative integer"),
    ({"type": "string", "meshstream.items": {"maxLength": 2}}, "needs an array or map"),
    ({"type": {"type": "array", "items": "string"}, "meshstream.items": {"minimum": 2}}, "cannot apply to string"),
])
def test_malformed_constraints_are_schema_errors(props, match):
    with pytest.raises(C.ConstraintSchemaError, match=match):
        C.compile_schema(_schema(**props))
    assert C.constraint_problems(_schema(**props))


def test_every_shipped_schema_declares_wellformed_constraints():
    for c in default_manifest().contracts:
        assert C.constraint_problems(c.schema) == [], c.name


def test_unconstrained_schema_costs_nothing():
    c = default_manifest().by_name("technical-metadata.failed")
    assert C.checker_for(c.schema) is None


def test_checker_is_compiled_once_per_schema(etsy):
    first = C.checker_for(etsy.schema)
    assert C.checker_for(etsy.schema) is first


class _NoRegistry:
    """Any call means the record went towards the registry/broker: the test fails."""

    def __getattr__(self, name):
        raise AssertionError(f"serde touched the registry ({name}) before validating")


def test_produce_of_141_character_title_fails_before_the_broker(etsy):
    from registry.serde import AvroSerde, EncodeError

    serde = AvroSerde(_NoRegistry())
    with pytest.raises(EncodeError) as err:
        serde.encode(etsy, etsy_event(title="x" * 141))
    assert "payload.listing.title" in str(err.value)
    assert isinstance(err.value.__cause__, C.ConstraintViolation)
