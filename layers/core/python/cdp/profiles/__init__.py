"""Unified profiles: their storage keys, the updates files and events make to them, and reading them back."""
