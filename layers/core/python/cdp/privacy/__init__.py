"""Privacy: consent per channel and purpose, erasure (right to be forgotten) and export (right of access)."""
