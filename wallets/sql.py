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


# registerconversionevent on PostgreSQL (``wallets.conversions``): one round trip, its own
# transaction: the database function of migration 0015 finds the user by the column its identifier
# names, keeps the rule sides that apply to it and its referrer, claims the tskey (a unique
# constraint; a concurrent repeat waits for the first), takes the rules' usages in rule id order
# (each refused past its per_user), writes the rewards of the rules that paid, the answer kept for
# repeats and one outbox event per rule that paid. It returns (outcome, the answer's lines, the
# outbox ids). Empty: step by step everywhere (SQLite's way; the tests run both).
CONVERSION_CALL = {
    "postgresql": "SELECT outcome, lines, event_ids FROM wallets_conversion_call(%s::bigint, %s::text, %s::text, "
    "%s::text, %s::numeric, %s::text, %s::text, %s::text, %s::timestamptz, %s::bigint, %s::jsonb, %s::bigint[], "
    "%s::integer[], %s::jsonb, %s::jsonb)",
}


# getuserbalance in one round trip: the user found by its identifier (``{column}``), its WALLET
# rewards added up per campaign (``{filters}``: the campaign and growth hack the call names) and
# whether the user is eligible for each campaign now (what ``orgs.selectors.campaign_is_eligible``
# decides: not blocked, active, not ended, in the eligible segment); the campaign the call names
# found or not (``{campaign}``). One row with NULL campaign columns: the user, no rewards; no row:
# no such user. What SQLite runs, and the specification of the PostgreSQL function below.
USER_BALANCE = """
SELECT cu.id, {campaign}, c.code, c.name, c.growth_hack, c.reward_unit,
       CASE WHEN NOT cu.blocked AND c.active AND (c.ends_at IS NULL OR c.ends_at > %(now)s)
             AND (c.eligible_segment_id IS NULL OR EXISTS (
                  SELECT 1 FROM orgs_customersegment s
                   WHERE s.customer_id = cu.id AND s.segment_id = c.eligible_segment_id))
            THEN 1 ELSE 0 END,
       SUM(CASE WHEN r.review_status = 'APPROVED' THEN r.amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'APPROVED' THEN r.redeemed_amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'APPROVED' AND r.status = 'UNREDEEMED'
                THEN r.amount - r.redeemed_amount ELSE 0 END),
       SUM(CASE WHEN r.review_status = 'UNDER_REVIEW' THEN r.amount ELSE 0 END)
  FROM orgs_customer cu
  LEFT JOIN (wallets_earnedreward r
             JOIN orgs_campaign c ON c.id = r.campaign_id AND c.reward_type = 'WALLET'{filters})
    ON r.org_id = cu.org_id AND r.customer_id = cu.id AND r.review_status IN ('APPROVED', 'UNDER_REVIEW')
 WHERE cu.org_id = %(org)s AND cu.{column} = %(value)s
 GROUP BY cu.id, cu.blocked, c.id, c.code, c.name, c.growth_hack, c.reward_unit, c.active, c.ends_at,
          c.eligible_segment_id
 ORDER BY c.code
"""
USER_BALANCE_CAMPAIGN = "(SELECT id FROM orgs_campaign WHERE org_id = %(org)s AND code = %(code)s)"
# The same rows on PostgreSQL from the function of wallets migration 0011, whose plans the server keeps
# for the session (the statement above is parsed and planned on every call): the org, the column
# and the value that find the user, the moment eligibility is judged at, the campaign code and the
# growth hack (NULL: any). Empty: ``USER_BALANCE`` everywhere (SQLite's way; the tests run both).
USER_BALANCE_CALL = {
    "postgresql": "SELECT * FROM wallets_user_balance(%s::bigint, %s::text, %s::text, %s::timestamptz, %s::text, "
    "%s::text)",
}


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


# The columns of a till's points redemption, as its statements insert it (``till.py``).
INSERT_POINTS_REDEMPTION = """INSERT INTO wallets_pointsredemption
           (org_id, reference, customer_id, group_id, wallet_id, points, reversed_points, points_currency_ratio,
            redeemed_value, balance_after, transaction_number, till_username, notes, redemption_time,
            ledger_entry_id, created_at)"""

# A till's points redemption named by the customer's identifier (``till.points_redeem_by_ref``),
# PostgreSQL, one statement and so its own transaction: the customer and its points wallet, the
# debit (it locks, checks and applies), its ledger entry, the redemption and its outbox event. No
# redemption row when the customer, its wallet or the points are not there, or the number was
# used before (nothing written: the caller then takes the general path, which says why). A copy
# racing with the same number fails on the unique index and the whole statement with it. The
# customer's identifier is unique in its org: no ORDER BY (see ``owners._CUSTOMER_SQL``).
TILL_REDEEM_BY_CUSTOMER = {
    "postgresql": f"""
WITH payer AS (
    SELECT c.id AS customer_id, c.external_id, c.email, c.mobile, w.id AS wallet_id, o.points_currency_ratio AS ratio
      FROM orgs_customer c
      JOIN orgs_org o ON o.id = c.org_id
      JOIN wallets_wallet w ON w.customer_id = c.id AND w.org_id = c.org_id AND w.kind = 'POINTS'
     WHERE c.org_id = %(org)s AND c.{{column}} = %(key)s
), moved AS (
    UPDATE wallets_wallet AS w SET balance = w.balance - %(points)s
      FROM payer
     WHERE w.id = payer.wallet_id AND w.balance - %(points)s >= 0
       AND NOT EXISTS (SELECT 1 FROM wallets_pointsredemption r
                        WHERE r.org_id = %(org)s AND r.customer_id = payer.customer_id
                          AND r.transaction_number = %(number)s)
    RETURNING w.id, w.balance, payer.customer_id, payer.ratio, round(%(points)s * payer.ratio, 2) AS value
), entry AS (
    INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
    SELECT %(org)s, id, -%(points)s, balance, 'POINTS_REDEEM', %(ledger_reference)s, %(memo)s, %(now)s FROM moved
    RETURNING id, balance_after
), ins AS (
    {INSERT_POINTS_REDEMPTION}
    SELECT %(org)s, %(reference)s, moved.customer_id, NULL, moved.id, %(points)s, 0, moved.ratio, moved.value,
           entry.balance_after, %(number)s, %(till)s, %(notes)s, %(when)s, entry.id, %(now)s
      FROM moved, entry
    RETURNING id, balance_after, ledger_entry_id, redeemed_value, wallet_id
), event AS (
    INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
    SELECT %(org)s, %(event_id)s, %(event_kind)s,
           %(event_payload)s::jsonb || jsonb_build_object(
               'customer', jsonb_build_object('id', payer.customer_id, 'externalId', payer.external_id,
                                              'email', payer.email, 'mobile', payer.mobile),
               'redeemedValue', ins.redeemed_value::text,
               'ledgerEntry', ins.ledger_entry_id,
               'wallet', jsonb_build_object('id', ins.wallet_id, 'kind', 'POINTS', 'balance', ins.balance_after::text)),
           %(now)s
      FROM ins, payer
    RETURNING id
)
SELECT payer.customer_id, payer.external_id, payer.email, payer.mobile, payer.wallet_id, payer.ratio,
       ins.id, ins.balance_after, ins.ledger_entry_id, ins.redeemed_value, (SELECT id FROM event)
  FROM payer LEFT JOIN ins ON TRUE
""",
}

# Redeem Rewards by amount or by pool, the whole call in one statement (PostgreSQL): the function
# of migration 0009 (wallets_redeem_call), set-based since 0013. No row back, or SQLSTATE
# ``REDEEM_CALL_DECLINED`` (a call that would not succeed once its Idempotency-Key is claimed):
# nothing was written, and the call runs step by step instead (wallets/redeem.py).
REDEEM_CALL = (
    "SELECT call_id, event_pk, answer FROM wallets_redeem_call("
    "%s::bigint, %s::text, %s::text, %s::text, %s::numeric, %s::bigint, %s::bigint, %s::bigint, "
    "%s::text, %s::text, %s::timestamptz, %s::timestamptz, %s::jsonb, %s::text, "
    "%s::integer, %s::integer, %s::text, %s::text)"
)
REDEEM_CALL_DECLINED = "RWR01"
