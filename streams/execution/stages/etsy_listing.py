"""Stage work: Etsy listing draft (deterministic; the contract enforces Etsy's limits)."""
from __future__ import annotations

from processors.etsy import etsy_listing
from streams.execution.stages.sellability import analyses
from streams.execution.context import StageContext

STAGE = "etsy-listing"


def work(ctx: StageContext, payload: dict) -> dict:
    meta, prints = analyses(ctx, payload)
    listing = etsy_listing(payload["name"], meta, prints, parts=max(1, len(payload["files"])),
                           listing_type=payload.get("listing_type") or "download",
                           who_made=payload.get("who_made") or "i_did",
                           when_made=payload.get("when_made") or "made_to_order",
                           taxonomy_id=payload.get("taxonomy_id"))
    price = payload.get("price") or {"amount": listing.price.amount, "divisor": listing.price.divisor,
                                     "currency_code": listing.price.currency_code}
    return {"files": payload["files"], "listing": {
        "title": listing.title, "description": listing.description, "tags": list(listing.tags),
        "materials": list(listing.materials), "who_made": listing.who_made, "when_made": listing.when_made,
        "is_supply": listing.is_supply, "taxonomy_id": listing.taxonomy_id, "price": price,
        "quantity": listing.quantity, "listing_type": listing.listing_type, "images": payload.get("images", []),
    }}
