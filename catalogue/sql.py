"""The raw SQL of the catalogue and the Issue Reward records, written once for both database
vendors (PostgreSQL, SQLite): the hot path's reads in one statement each."""

REWARDS = """
    SELECT r.id, r.org_id, r.name, r.type, r.redemption_type, r.enabled, r.starts_at, r.ends_at, r.coupon_pool_id,
           r.promotion_id, r.vendor_name, r.vendor_url, r.vendor_timeout_ms, r.vendor_context_map,
           p.org_id, p.code, p.active, p.max_per_customer,
           c.id, c.mode, c.points, c.conversion_ratio,
           (SELECT COUNT(*) FROM catalogue_rewardsegment s WHERE s.reward_id = r.id)
      FROM catalogue_cataloguereward r
      LEFT JOIN catalogue_promotion p ON p.id = r.promotion_id
      LEFT JOIN catalogue_paymentconfig c ON c.reward_id = r.id
     WHERE r.id IN ({ids})
     ORDER BY r.id, c.id
"""


# An ANSWERED vendor call is paid once: the row lock of this UPDATE decides who pays it.
VENDOR_CALL_SETTLE = (
    "UPDATE catalogue_vendorcall SET state = 'DONE', settled_at = %s WHERE id = %s AND state = 'ANSWERED' RETURNING id"
)
