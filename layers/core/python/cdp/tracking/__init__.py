"""HTTP tracking: Segment-compatible identify/track messages applied to profiles and the event ledger."""
