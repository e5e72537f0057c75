"""Metamodel grouping, sellability factors, and Etsy listings that always satisfy Etsy's limits."""
from __future__ import annotations

import re

import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.etsy import EtsyListing, clean_tag, clean_title, etsy_listing, humanize, validate_listing
from processors.loading import load_mesh
from processors.metadata import technical_metadata
from processors.metamodel import PartInfo, detect_bodies, detect_file_groups
from processors.print_analysis import analyze_print
from processors.samples import sample_models
from processors.sellability import WEIGHTS, sellability

from . import _meshes as M

SAMPLES = sample_models()


def info(key: str, data: bytes) -> PartInfo:
    md = technical_metadata(load_mesh(data, key))
    return PartInfo(key, md.bbox_min, md.bbox_max, None, md.format, md.units)


@pytest.fixture(scope="module")
def cube():
    loaded = load_mesh(SAMPLES["cube_10mm.stl"])
    meta = technical_metadata(loaded)
    return meta, analyze_print(loaded, meta)


# ----------------------------------------------------------------------------- metamodel

def test_bracket_files_group_with_high_confidence():
    parts = [info(k, SAMPLES[k]) for k in ("bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl")]
    groups, ungrouped = detect_file_groups(parts + [info("bracket/notes_cube.stl", SAMPLES["cube_10mm.stl"])])
    assert len(groups) == 1 and [p.key for p in ungrouped] == ["bracket/notes_cube.stl"]
    g = groups[0]
    assert g.name == "bracket" and g.roles == ("part_01", "part_02")
    assert g.confidence >= 0.9
    assert any("shared stem" in r for r in g.reasons) and any("touch" in r for r in g.reasons)


def test_far_apart_mismatched_parts_get_lower_confidence():
    a = PartInfo("f/thing_part_1.stl", (0, 0, 0), (10, 10, 10), format="stl", units="mm")
    b = PartInfo("f/thing_part_2.stl", (500, 500, 500), (900, 900, 900), format="obj", units=None)
    groups, _ = detect_file_groups([a, b])
    assert groups[0].confidence < 0.6


def test_bodies_in_one_file():
    a = M.box((10, 10, 4), (0, 0, 2))
    b = M.box((4, 4, 10), (0, 0, 9))
    loaded = load_mesh(M.stl(trimesh.util.concatenate([a, b])), "lamp.stl")
    g = detect_bodies(loaded, "lamp.stl")
    assert g is not None and g.kind == "bodies" and len(g.parts) == 2
    assert g.roles == ("body_01", "body_02") and 0.5 < g.confidence <= 1.0
    assert detect_bodies(load_mesh(SAMPLES["cube_10mm.stl"]), "c.stl") is None


# ----------------------------------------------------------------------------- sellability

def test_sellability_is_a_transparent_weighted_sum(cube):
    meta, prints = cube
    s = sellability(meta, prints)
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert [f.name for f in s.factors] == list(WEIGHTS)
    assert s.score == pytest.approx(100 * sum(f.weight * f.value for f in s.factors), abs=0.01)
    assert all(0 <= f.value <= 1 and f.reason for f in s.factors)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", f.name) for f in s.factors)


def test_open_mesh_sells_worse(cube):
    meta, prints = cube
    box = M.box()
    loaded = load_mesh(M.stl(trimesh.Trimesh(box.vertices, box.faces[2:], process=False)))
    m2 = technical_metadata(loaded)
    assert sellability(m2, analyze_print(loaded, m2)).score < sellability(meta, prints).score
    assert sellability(meta, prints, parts=3).score > sellability(meta, prints).score


# ----------------------------------------------------------------------------- etsy

def test_cube_listing(cube):
    meta, prints = cube
    listing = etsy_listing("cube_10mm", meta, prints)
    assert validate_listing(listing) == []
    assert listing.title.startswith("Cube 10mm 3D Print File")
    assert "10 x 10 x 10 mm" in listing.title
    assert listing.listing_type == "download" and listing.price.amount > 0
    assert etsy_listing("cube_10mm", meta, prints) == listing  # deterministic
    physical = etsy_listing("cube_10mm", meta, prints, listing_type="physical", when_made="made_to_order")
    assert validate_listing(physical) == [] and physical.materials and physical.quantity == 1
    assert physical.price.amount % 100 == 99


def test_invalid_enums_are_refused(cube):
    meta, prints = cube
    with pytest.raises(ValueError):
        etsy_listing("x", meta, prints, who_made="robot")
    with pytest.raises(ValueError):
        etsy_listing("x", meta, prints, when_made="yesterday")


def test_cleaners():
    assert clean_title("a%b%c::d&&e++f") == "a%bc:d&e+f"
    assert len(clean_title("word " * 100)) <= 140
    assert clean_title("\x00\x01") == "3D Printable Model"
    assert clean_tag("Super_Long_Tag_Name_For_Etsy!!") == "super long tag name"
    assert humanize("bracket_part_01") == "Bracket Part 01"


@settings(max_examples=200, deadline=None)
@given(
    name=st.text(max_size=300),
    parts=st.integers(1, 50),
    listing_type=st.sampled_from(["download", "physical", "both"]),
    material=st.text(max_size=80),
)
def test_any_name_yields_a_valid_listing(cube, name, parts, listing_type, material):
    meta, prints = cube
    listing = etsy_listing(name, meta, prints, parts=parts, listing_type=listing_type, material=material)
    assert isinstance(listing, EtsyListing)
    assert validate_listing(listing) == [], listing
    assert len(listing.title) <= 140 and len(listing.tags) <= 13
    assert all(len(t) <= 20 for t in listing.tags)
