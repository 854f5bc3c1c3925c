"""Segments: RFM scores and lifecycle stages over all profiles, and the memberships they imply."""
