"""The raw SQL of coupon pools, per database vendor where they differ (PostgreSQL in production,
SQLite for the embedded default). The bulk upload's COPY statements are PostgreSQL only and stay
beside their sink in ``services.py``."""

# One statement takes the next available, unexpired coupons of a pool, skipping the rows other
# transactions hold, and hands them out, all or none: one round trip instead of SELECT ... FOR UPDATE + UPDATE.
# The partial index coupon_available (pool_id, id + 0) WHERE status = 'AVAILABLE' serves the inner
# select; "ORDER BY id + 0" matches that index only (see the model), never the primary key.
DISBURSE = {
    "postgresql": """
        WITH picked AS (
            SELECT id FROM coupons_coupon
             WHERE pool_id = %(pool)s AND org_id = %(org)s AND status = 'AVAILABLE'
               AND (expires_at IS NULL OR expires_at > %(now)s)
             ORDER BY id + 0 LIMIT %(count)s
             FOR UPDATE SKIP LOCKED
        )
        UPDATE coupons_coupon AS c SET status = 'ISSUED', holder_id = %(holder)s, issued_at = %(now)s
          FROM picked WHERE c.id = picked.id AND (SELECT count(*) FROM picked) = %(count)s
        RETURNING c.id, c.code, c.expires_at
    """,
    # SQLite has one writer at a time (BEGIN IMMEDIATE): no row locks to skip.
    "sqlite": """
        WITH picked AS (
            SELECT id FROM coupons_coupon
             WHERE pool_id = %(pool)s AND org_id = %(org)s AND status = 'AVAILABLE'
               AND (expires_at IS NULL OR expires_at > %(now)s)
             ORDER BY id + 0 LIMIT %(count)s)
        UPDATE coupons_coupon SET status = 'ISSUED', holder_id = %(holder)s, issued_at = %(now)s
         WHERE id IN (SELECT id FROM picked) AND (SELECT count(*) FROM picked) = %(count)s
        RETURNING id, code, expires_at
    """,
}

EXPIRE = {
    "postgresql": """
        UPDATE coupons_coupon SET status = 'EXPIRED'
         WHERE id IN (SELECT id FROM coupons_coupon
                       WHERE status IN ('AVAILABLE', 'ISSUED') AND expires_at <= %(now)s
                       LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
    """,
    "sqlite": """
        UPDATE coupons_coupon SET status = 'EXPIRED'
         WHERE id IN (SELECT id FROM coupons_coupon
                       WHERE status IN ('AVAILABLE', 'ISSUED') AND expires_at <= %(now)s LIMIT %(batch)s)
    """,
}

STOCK = """
    SELECT p.id, p.org_id, p.name, p.low_stock_threshold, p.low_stock_since, COALESCE(a.available, 0)
      FROM coupons_couponpool p
      LEFT JOIN (SELECT pool_id, COUNT(*) AS available FROM coupons_coupon
                  WHERE status = 'AVAILABLE' AND (expires_at IS NULL OR expires_at > %(now)s)
                  GROUP BY pool_id) a ON a.pool_id = p.id
"""
