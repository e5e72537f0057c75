"""One thin Faust agent per stage: decode, call processors/, emit versioned events."""
