"""Applying canonical records to profiles: the one use case files, tracking calls and webhooks share."""
