"""The raw SQL of wallets, per database vendor where they differ (PostgreSQL in production, SQLite
for the embedded default): the hot paths' single statements, written once here."""

# One statement applies a delta, takes the wallet's row lock and refuses to go below zero.
APPLY_DELTA = {
    "postgresql": (
        "UPDATE wallets_wallet SET balance = balance + %(delta)s "
        "WHERE {target} AND balance + %(delta)s >= 0 RETURNING id, balance"
    ),
    # SQLite keeps numeric values as binary floats: round back to cents at every step.
    "sqlite": (
        "UPDATE wallets_wallet SET balance = ROUND(balance + %(delta)s, 2) "
        "WHERE {target} AND ROUND(balance + %(delta)s, 2) >= 0 RETURNING id, balance"
    ),
}
BY_ID = "id = %(wallet)s AND org_id = %(org)s"
BY_CUSTOMER = "org_id = %(org)s AND kind = %(kind)s AND customer_id = %(customer)s"


# PostgreSQL: the balance update and every entry in one statement. The entries' balance_after
# run up to the new balance in the given order (``later`` is the sum of the deltas after each).
POST_MANY = """
WITH moved AS (
    UPDATE wallets_wallet SET balance = balance + %s
     WHERE id = %s AND org_id = %s AND balance + %s >= 0
    RETURNING id, org_id, balance
)
INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
SELECT moved.org_id, moved.id, p.delta, moved.balance - p.later, p.kind, p.reference, p.memo, %s
  FROM moved, (VALUES {rows}) AS p(ord, delta, later, kind, reference, memo)
 ORDER BY p.ord
RETURNING id, balance_after
"""


# A deliberate two-table statement (PostgreSQL): the user's oldest unredeemed reward of the
# campaign (locked), the pool's next free coupon (SKIP LOCKED), and both marked used, in one
# round trip. It writes coupons_coupon, which coupons owns, exactly as coupons_disburse does
# (AVAILABLE -> ISSUED to the holder); a reward buys one coupon only in the same statement that
# spends the reward. Elsewhere the same runs step by step through coupons_disburse. The outer
# row tells which was missing: no reward or no coupon; nothing is written unless both were there.
REDEEM_FROM_POOL = {
    "postgresql": """
        WITH reward AS (
            SELECT id, code FROM wallets_earnedreward
             WHERE org_id = %(org)s AND customer_id = %(customer)s AND campaign_id = %(campaign)s
               AND status = 'UNREDEEMED' AND review_status = 'APPROVED'
             ORDER BY earned_at, id LIMIT 1
             FOR UPDATE
        ), picked AS (
            SELECT id FROM coupons_coupon
             WHERE pool_id = %(pool)s AND org_id = %(org)s AND status = 'AVAILABLE'
               AND (expires_at IS NULL OR expires_at > %(now)s) AND EXISTS (SELECT 1 FROM reward)
             ORDER BY id + 0 LIMIT 1
             FOR UPDATE SKIP LOCKED
        ), coupon AS (
            UPDATE coupons_coupon AS c SET status = 'ISSUED', holder_id = %(customer)s, issued_at = %(now)s
              FROM picked WHERE c.id = picked.id
            RETURNING c.id, c.code, c.expires_at
        ), spent AS (
            UPDATE wallets_earnedreward AS r SET status = 'REDEEMED', redeemed_at = %(now)s
              FROM reward WHERE r.id = reward.id AND EXISTS (SELECT 1 FROM coupon)
            RETURNING r.id
        )
        SELECT reward.code, coupon.id, coupon.code, coupon.expires_at, (SELECT count(*) FROM spent)
          FROM (SELECT 1) AS one LEFT JOIN reward ON true LEFT JOIN coupon ON true
    """,
}


# A user's WALLET rewards added up per campaign, with what eligibility needs of the campaign: one
# round trip for getuserbalance (``{filters}``: the campaign and growth hack the call names).
USER_BALANCE = """
SELECT c.id, c.code, c.name, c.growth_hack, c.reward_unit, c.active, c.ends_at, c.eligible_segment_id,
       SUM(CASE WHEN r.review_status = 'APPROVED' THEN r.amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'APPROVED' THEN r.redeemed_amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'APPROVED' AND r.status = 'UNREDEEMED'
                THEN r.amount - r.redeemed_amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'UNDER_REVIEW' THEN r.amount ELSE 0 END)
  FROM wallets_earnedreward r
  JOIN orgs_campaign c ON c.id = r.campaign_id
 WHERE r.org_id = %(org)s AND r.customer_id = %(customer)s AND c.reward_type = 'WALLET'
   AND r.review_status IN ('APPROVED', 'UNDER_REVIEW'){filters}
 GROUP BY c.id, c.code, c.name, c.growth_hack, c.reward_unit, c.active, c.ends_at, c.eligible_segment_id
 ORDER BY c.code
"""


# The reconciliation's checks (wallets/reconciliation.py) read JSON arrays of the call and issue
# records: the one part of their SQL that differs between the two databases.
RECONCILE_FRAGMENTS = {
    "postgresql": {
        "call_codes": "jsonb_array_elements_text(r.reward_codes) AS code(value)",
        "call_code": "code.value",
        "issue_codes": "jsonb_to_recordset(ri.coupon_codes) AS x(code text)",
        "issue_code": "x.code",
    },
    "sqlite": {
        "call_codes": "json_each(r.reward_codes) AS code",
        "call_code": "code.value",
        "issue_codes": "json_each(ri.coupon_codes) AS x",
        "issue_code": "json_extract(x.value, '$.code')",
    },
}


# Redeem Rewards by amount or by pool, the whole call in one statement (PostgreSQL): the function
# of migration 0009 (wallets_redeem_call). No row back: nothing was written, and the call runs
# step by step instead (wallets/redeem.py).
REDEEM_CALL = (
    "SELECT call_id, event_pk, answer FROM wallets_redeem_call("
    "%s::bigint, %s::text, %s::text, %s::text, %s::numeric, %s::bigint, %s::bigint, %s::bigint, "
    "%s::text, %s::text, %s::timestamptz, %s::timestamptz, %s::jsonb, %s::text, "
    "%s::integer, %s::integer, %s::text, %s::text)"
)
