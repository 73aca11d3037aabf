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


# A coupon used at a till (``issued.coupon_redeem_at_till``): one conditional UPDATE (a concurrent
# second one waits on the row, re-reads it, no longer matches). Portable. ``{holder}`` is the
# holder's id: a parameter, or the id the statement looked up.
_TILL_REDEEM = """
    UPDATE coupons_coupon
       SET status = 'REDEEMED', redeemed_at = %(now)s, redeemed_transaction_number = %(number)s,
           redeemed_amount = %(amount)s
     WHERE id = (SELECT id FROM coupons_coupon
                  WHERE org_id = %(org)s AND code = %(code)s AND holder_id = {holder} AND status = 'ISSUED'
                    AND (expires_at IS NULL OR expires_at > %(now)s)
                  ORDER BY id LIMIT 1)
       AND status = 'ISSUED'
    RETURNING id, pool_id
"""
TILL_REDEEM = _TILL_REDEEM.format(holder="%(holder)s")

# The outbox event of the redemption, its customer and coupon added (PostgreSQL).
_TILL_REDEEM_EVENT = """
    INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
    SELECT %(org)s, %(event_id)s, %(event_kind)s,
           %(event_payload)s::jsonb || jsonb_build_object(
               'customer', jsonb_build_object('id', holder.id, 'externalId', holder.external_id,
                                              'email', holder.email, 'mobile', holder.mobile),
               'coupon', jsonb_build_object('id', redeemed.id, 'code', %(code)s, 'poolId', redeemed.pool_id)),
           %(now)s
      FROM redeemed, holder
    RETURNING id
"""

# The redemption and its outbox event in one statement, the holder given (no row: nothing
# written). Elsewhere (SQLite, no data-modifying CTEs) the event is a second statement in the
# same transaction.
TILL_REDEEM_WITH_EVENT = {
    "postgresql": f"""
        WITH holder AS (
            SELECT id, external_id, email, mobile FROM orgs_customer WHERE id = %(holder)s
        ), redeemed AS ({TILL_REDEEM}), event AS ({_TILL_REDEEM_EVENT})
        SELECT redeemed.id, redeemed.pool_id, (SELECT id FROM event) FROM redeemed
    """,
}

# The same with the holder looked up by its identifier (``{{column}}``) in the statement: a till's
# redemption in one round trip. No row: nothing written (no such customer, or the coupon cannot
# be used by it now): the caller looks the customer and the coupon up to say why.
TILL_REDEEM_BY_CUSTOMER = {
    "postgresql": f"""
        WITH holder AS (
            SELECT id, external_id, email, mobile FROM orgs_customer
             WHERE org_id = %(org)s AND {{column}} = %(key)s ORDER BY id LIMIT 1
        ), redeemed AS ({_TILL_REDEEM.format(holder="(SELECT id FROM holder)")}), event AS ({_TILL_REDEEM_EVENT})
        SELECT redeemed.id, redeemed.pool_id, (SELECT id FROM event), holder.id FROM redeemed, holder
    """,
}
