"""Etsy draft listings from metadata: deterministic, and valid against Etsy's limits by construction.

Why rules and not a language model: listings must be reproducible (same model, same listing)
and must never be rejected by Etsy's createDraftListing. Every field is built and then cleaned
to Etsy's documented constraints, and `validate_listing` re-checks them (tests fuzz it):

* title: 1..140 characters of letters, digits, punctuation, math symbols, spaces, TM/(C)/(R);
  each of % : & + at most once;
* tags: at most 13, unique, 1..20 characters of letters, digits, spaces, - ' TM (C) (R);
* materials: at most 13, 1..45 characters of letters, digits and spaces;
* who_made in {i_did, someone_else, collective}; when_made e.g. made_to_order;
* price as Etsy Money (amount/divisor/currency_code) with amount > 0; quantity 1..999.

taxonomy_id: Etsy's seller taxonomy ids change over time and must come from
getSellerTaxonomyNodes; the defaults below are configuration, pass the right one per shop.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field

from processors.metadata import TechnicalMetadata
from processors.print_analysis import PrintAnalysis

TITLE_MAX = 140
TAGS_MAX = 13
TAG_LEN = 20
MATERIALS_MAX = 13
MATERIAL_LEN = 45
WHO_MADE = ("i_did", "someone_else", "collective")
LISTING_TYPES = ("physical", "download", "both")
WHEN_MADE = re.compile(r"^(made_to_order|before_1700|1[78]00s|19[0-9]0s|(19|20)[0-9]{2}_20[0-9]{2}|before_20[0-9]{2})$")
ONCE = "%:&+"
MARKS = "\u2122\u00a9\u00ae"  # TM (C) (R)
# Configuration, not truth: set these from Etsy's seller taxonomy for your shop.
DEFAULT_TAXONOMY_ID = {"download": 1, "physical": 1, "both": 1}


@dataclass(frozen=True)
class Money:
    amount: int
    divisor: int = 100
    currency_code: str = "USD"

    @property
    def value(self) -> float:
        return self.amount / self.divisor


@dataclass(frozen=True)
class EtsyListing:
    title: str
    description: str
    tags: tuple[str, ...]
    materials: tuple[str, ...]
    who_made: str
    when_made: str
    is_supply: bool
    taxonomy_id: int
    price: Money
    quantity: int
    listing_type: str
    images: tuple = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tags"], d["materials"], d["images"] = list(self.tags), list(self.materials), list(self.images)
        return d


def _cat_ok_title(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LP" or cat in ("Nd", "Sm", "Zs") or ch in MARKS


def _cat_ok_tag(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return (cat[0] == "L" or cat == "Nd" or ch in " -'" + MARKS) and ch != "_"


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def clean_title(raw: str, fallback: str = "3D Printable Model") -> str:
    s = unicodedata.normalize("NFC", raw)
    s = "".join(ch if _cat_ok_title(ch) else " " for ch in s)
    s = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in s)
    out, seen = [], set()
    for ch in s:
        if ch in ONCE:
            if ch in seen:
                continue
            seen.add(ch)
        out.append(ch)
    s = _squash("".join(out))
    if len(s) > TITLE_MAX:
        cut = s[:TITLE_MAX]
        s = cut.rsplit(" ", 1)[0] if " " in cut[40:] else cut
        s = s.rstrip(" -,;")
    return s if s else fallback


def clean_tag(raw: str) -> str:
    s = unicodedata.normalize("NFC", raw).lower()
    s = "".join(ch if _cat_ok_tag(ch) else " " for ch in s)
    s = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in s)
    s = _squash(s).strip("-' ")
    if len(s) > TAG_LEN:
        cut = s[:TAG_LEN]
        s = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return s.strip("-' ")


def clean_material(raw: str) -> str:
    s = "".join(ch if unicodedata.category(ch)[0] == "L" or unicodedata.category(ch) == "Nd" else " " for ch in unicodedata.normalize("NFC", raw))
    return _squash(s)[:MATERIAL_LEN].strip()


def humanize(name: str) -> str:
    """'bracket_part_01' -> 'Bracket Part 01'; keeps digits and units ('cube_10mm' -> 'Cube 10mm')."""
    s = re.sub(r"[_\-.]+", " ", name)
    s = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", s)
    words = [w if any(c.isdigit() for c in w) or w.isupper() else w.capitalize() for w in s.split()]
    return " ".join(words)


def _dims(extents_mm) -> str:
    return " x ".join(f"{e:.0f}" if e >= 10 else f"{e:.1f}" for e in extents_mm)


def _price(listing_type: str, meta: TechnicalMetadata, prints: PrintAnalysis | None, parts: int, currency: str) -> Money:
    if listing_type == "download":
        cents = 299 + 100 * max(parts - 1, 0) + (100 if meta.triangles > 100_000 else 0)
        return Money(int(cents), 100, currency)
    scale = prints.scale_to_mm if prints else 1.0
    if meta.volume is not None:
        volume_cm3 = meta.volume * scale**3 / 1000.0
    else:
        ex = [e * scale for e in meta.extents]
        volume_cm3 = 0.3 * ex[0] * ex[1] * ex[2] / 1000.0
    support_cm3 = (prints.support_volume_mm3 / 1000.0) if prints else 0.0
    dollars = 6.0 + 0.12 * volume_cm3 + 0.05 * support_cm3 + 1.5 * max(parts - 1, 0)
    if listing_type == "both":
        dollars += 2.0
    cents = int(math.ceil(min(dollars, 9999.0))) * 100 - 1  # x.99 pricing
    return Money(max(cents, 99), 100, currency)


def etsy_listing(
    name: str,
    meta: TechnicalMetadata,
    prints: PrintAnalysis | None = None,
    *,
    parts: int = 1,
    listing_type: str = "download",
    who_made: str = "i_did",
    when_made: str = "made_to_order",
    taxonomy_id: int | None = None,
    currency: str = "USD",
    material: str = "PLA",
) -> EtsyListing:
    """A draft listing for a model; same inputs, same listing, always within Etsy's limits."""
    if listing_type not in LISTING_TYPES:
        raise ValueError(f"listing_type must be one of {LISTING_TYPES}, got {listing_type!r}")
    if who_made not in WHO_MADE:
        raise ValueError(f"who_made must be one of {WHO_MADE}, got {who_made!r}")
    if not WHEN_MADE.match(when_made):
        raise ValueError(f"when_made {when_made!r} is not an Etsy when_made value")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValueError(f"currency must be an ISO 4217 code, got {currency!r}")
    scale = prints.scale_to_mm if prints else 1.0
    extents = [e * scale for e in meta.extents]
    label = humanize(name) or "3D Model"
    dims = _dims(extents)
    kit = f"{parts}-Part Kit, " if parts > 1 else ""
    if listing_type == "download":
        title = f"{label} 3D Print File, {kit}STL Digital Download, {dims} mm"
    else:
        title = f"{label}, 3D Printed {material}, {kit}{dims} mm, Made to Order"
    title = clean_title(title)

    words = [w for w in re.split(r"\s+", humanize(name).lower()) if len(w) > 2 and not w.isdigit()]
    candidates = [" ".join(words[:3]), *words[:4], "3d print", "3d printed", "3d model"]
    candidates += ["stl file", "digital download", "printable"] if listing_type != "physical" else [material, "made to order", "gift"]
    if parts > 1:
        candidates += ["multi part", "model kit"]
    if prints is not None and not prints.needs_supports:
        candidates.append("no supports")
    size = max(extents) if extents else 0
    candidates.append("miniature" if size < 50 else "large print" if size > 200 else "desk decor")
    tags: list[str] = []
    for c in candidates:
        t = clean_tag(c)
        if t and t not in tags:
            tags.append(t)
        if len(tags) == TAGS_MAX:
            break

    lines = [
        f"{label}: a {'multi-part ' if parts > 1 else ''}3D model ready to print.",
        "",
        f"Size: {dims} mm (W x D x H).",
    ]
    if meta.volume is not None:
        lines.append(f"Volume: {meta.volume * scale**3 / 1000.0:.1f} cm3.")
    lines.append(f"Mesh: {meta.triangles:,} triangles, {'watertight' if meta.watertight else 'open (may need repair)'}.")
    if parts > 1:
        lines.append(f"Parts: {parts}, printed separately and assembled.")
    if prints is not None:
        lines.append(f"Printability: {prints.score}/100; {'no supports needed' if not prints.needs_supports else 'supports recommended'}.")
        fits = [f.printer for f in prints.bed_fit if f.fits]
        if fits:
            lines.append("Fits: " + ", ".join(fits) + ".")
    if listing_type != "physical":
        lines += ["", f"You receive the model file{'s' if parts > 1 else ''} ({meta.format.upper()}) as an instant download. No physical item is shipped."]
    else:
        lines += ["", f"Printed to order in {material}. Colours may vary slightly."]
    description = "\n".join(lines)

    materials = () if listing_type == "download" else tuple(m for m in (clean_material(material), "plastic") if m)
    return EtsyListing(
        title=title,
        description=description,
        tags=tuple(tags),
        materials=materials[:MATERIALS_MAX],
        who_made=who_made,
        when_made=when_made,
        is_supply=False,
        taxonomy_id=int(taxonomy_id or DEFAULT_TAXONOMY_ID[listing_type]),
        price=_price(listing_type, meta, prints, parts, currency),
        quantity=999 if listing_type == "download" else 1,
        listing_type=listing_type,
    )


def validate_listing(listing: EtsyListing) -> list[str]:
    """Every Etsy limit this listing breaks (empty list = valid)."""
    errors = []
    t = listing.title
    if not 1 <= len(t) <= TITLE_MAX:
        errors.append(f"title length {len(t)} not in 1..{TITLE_MAX}")
    if any(not _cat_ok_title(ch) for ch in t):
        errors.append("title has characters Etsy rejects")
    for ch in ONCE:
        if t.count(ch) > 1:
            errors.append(f"title uses {ch!r} more than once")
    if len(listing.tags) > TAGS_MAX or len(set(listing.tags)) != len(listing.tags):
        errors.append("more than 13 tags or duplicates")
    for tag in listing.tags:
        if not 1 <= len(tag) <= TAG_LEN or any(not _cat_ok_tag(ch) for ch in tag):
            errors.append(f"bad tag {tag!r}")
    if len(listing.materials) > MATERIALS_MAX:
        errors.append("more than 13 materials")
    for m in listing.materials:
        if not 1 <= len(m) <= MATERIAL_LEN or not re.fullmatch(r"(?:[^\W_]| )+", m):
            errors.append(f"bad material {m!r}")
    if listing.who_made not in WHO_MADE:
        errors.append("bad who_made")
    if not WHEN_MADE.match(listing.when_made):
        errors.append("bad when_made")
    if listing.price.amount <= 0 or listing.price.divisor < 1:
        errors.append("price must be > 0")
    if not 1 <= listing.quantity <= 999:
        errors.append("quantity not in 1..999")
    if listing.taxonomy_id < 1:
        errors.append("taxonomy_id must be >= 1")
    if not listing.description.strip():
        errors.append("empty description")
    return errors


__all__ = ["Money", "EtsyListing", "etsy_listing", "validate_listing", "clean_title", "clean_tag", "humanize", "DEFAULT_TAXONOMY_ID"]
