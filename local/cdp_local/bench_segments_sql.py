"""The bench's segments (see bench_segments) written in DuckDB SQL, over the same Parquet files.

Exactly the semantics of cdp.segments.rfm (RANK()-based quintiles of buyers, lifecycle stages in whole days as
cdp.segments.lifecycle decides them; the bench's profiles have no cancellations) and of the shipped definitions:
windows end at the evaluation time and include both ends, a test on a missing value is false.
"""

SEGMENTS_SQL = """
WITH params AS (
    SELECT epoch_us(TIMESTAMPTZ '{as_of}') AS as_of_us, 86400000000 AS day, 3600000000 AS hour
), profiles AS (
    SELECT profile_id, epoch_us(first_seen_at) AS first_seen, epoch_us(last_order_at) AS last_order, orders_count,
           revenue
    FROM read_parquet('{folder}/profiles.parquet')
), buyers AS (
    SELECT profile_id, greatest((as_of_us - last_order) // day, 0) AS recency_days, orders_count
    FROM profiles, params WHERE last_order IS NOT NULL AND orders_count > 0
), scores AS (
    SELECT profile_id,
           1 + (5 * (RANK() OVER (ORDER BY recency_days DESC) - 1)) // (SELECT count(*) FROM buyers) AS r,
           1 + (5 * (RANK() OVER (ORDER BY orders_count) - 1)) // (SELECT count(*) FROM buyers) AS f
    FROM buyers
), event_counts AS (
    SELECT profile_id,
           count(*) FILTER (WHERE event = 'Product Added' AND moment >= as_of_us - 24 * hour) AS added_24h,
           count(*) FILTER (WHERE event = 'Product Viewed' AND moment >= as_of_us - 24 * hour) AS viewed_24h,
           count(*) FILTER (WHERE event = 'Order Completed' AND moment >= as_of_us - 24 * hour) AS ordered_24h,
           count(*) FILTER (WHERE event = 'Order Completed' AND moment >= as_of_us - 30 * day) AS ordered_30d,
           count(*) FILTER (WHERE event = 'Product Viewed' AND category = 'shoes' AND moment >= as_of_us - 7 * day) AS shoes_7d
    FROM (SELECT profile_id, event, category, epoch_us(occurred_at) AS moment FROM read_parquet('{folder}/events.parquet')),
         params
    WHERE moment >= as_of_us - {events_days} * day AND moment <= as_of_us
    GROUP BY profile_id
), order_measures AS (
    SELECT profile_id,
           count(DISTINCT order_id) FILTER (WHERE moment >= as_of_us - 365 * day) AS orders_365d,
           count(DISTINCT order_id) FILTER (WHERE moment >= as_of_us - 90 * day) AS orders_90d,
           sum(line_amount) FILTER (WHERE moment >= as_of_us - 30 * day) AS amount_30d
    FROM (SELECT profile_id, order_id, status, line_amount, epoch_us(ordered_at) AS moment
          FROM read_parquet('{folder}/order_lines.parquet')), params
    WHERE status = 'completed' AND moment >= as_of_us - {order_lines_days} * day AND moment <= as_of_us
    GROUP BY profile_id
), stage_new AS (
    SELECT p.*, s.r, s.f, b.recency_days,
           coalesce(greatest((as_of_us - first_seen) // day, 0) <= 30 AND orders_count <= 1, false) AS lifecycle_new
    FROM profiles p CROSS JOIN params LEFT JOIN scores s USING (profile_id)
              LEFT JOIN (SELECT profile_id, recency_days FROM buyers) b USING (profile_id)
), stage_prospect AS (
    SELECT *, NOT lifecycle_new AND recency_days IS NULL AS lifecycle_prospect
    FROM stage_new
), stage_active AS (
    SELECT *, NOT lifecycle_new AND NOT lifecycle_prospect AND recency_days <= 90 AS lifecycle_active
    FROM stage_prospect
)
SELECT a.profile_id,
       lifecycle_new, lifecycle_prospect, lifecycle_active,
       NOT lifecycle_new AND NOT lifecycle_prospect AND NOT lifecycle_active AND recency_days <= 365 AS lifecycle_dormant,
       NOT lifecycle_new AND NOT lifecycle_prospect AND recency_days > 365 AS lifecycle_churned,
       coalesce(added_24h, 0) >= 1 AND NOT coalesce(ordered_24h, 0) >= 1 AS cart_abandoners,
       coalesce(viewed_24h, 0) >= 1 AND NOT coalesce(added_24h, 0) >= 1 AND NOT coalesce(ordered_24h, 0) >= 1
           AS browse_abandoners,
       coalesce(r = 5 AND f IN (4, 5), false) AS rfm_champions,
       coalesce(r IN (3, 4) AND f IN (4, 5), false) AS rfm_loyal_customers,
       coalesce(r IN (4, 5) AND f IN (2, 3), false) AS rfm_potential_loyalists,
       coalesce(r = 5 AND f = 1, false) AS rfm_new_customers,
       coalesce(r = 4 AND f = 1, false) AS rfm_promising,
       coalesce(r = 3 AND f = 3, false) AS rfm_need_attention,
       coalesce(r = 3 AND f IN (1, 2), false) AS rfm_about_to_sleep,
       coalesce(r IN (1, 2) AND f IN (3, 4), false) AS rfm_at_risk,
       coalesce(r IN (1, 2) AND f = 5, false) AS rfm_cannot_lose_them,
       coalesce(r = 2 AND f IN (1, 2), false) AS rfm_hibernating,
       coalesce(r = 1 AND f IN (1, 2), false) AS rfm_lost,
       coalesce(shoes_7d, 0) >= 3 AND NOT coalesce(ordered_30d, 0) >= 1 AS shoe_browsers,
       coalesce(amount_30d, 0) >= 200 AS recent_big_spenders,
       coalesce(orders_365d, 0) >= 2 AND NOT coalesce(orders_90d, 0) >= 1 AS lapsing_repeat_buyers
FROM stage_active a
LEFT JOIN event_counts USING (profile_id)
LEFT JOIN order_measures USING (profile_id)
"""
