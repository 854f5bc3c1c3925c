"""Loyalty: points earned from orders and loyalty entries, their expiry, tiers and the events they raise."""
