"""Coupons: offers as data, issued at most as often as allowed to one person (merged accounts counting as one),
redeemed from orders; issue and redeem are atomic and idempotent."""
