"""``wallets_redeem_call`` (migration 0009) set-based, and in the step-by-step path's lock order.

The same call, the same answers, rows and event as 0009 (``wallets.redemption`` stays the
specification; ``tests/wallets/test_redeem_one_statement.py`` holds the two together). What changed:

- **The Idempotency-Key is claimed first**, before any row is locked, as the step-by-step path
  claims it (``wallets.redeem.redemption_call``: the key, then the rewards, then the wallet or the
  coupon). 0009 claimed it last, after locking the rewards and the wallet: a call on this path and
  a call with the same key on the step-by-step path (another body, a filter, by ids, or the
  fallback of a call the statement would not do) could each hold what the other waited for, a
  deadlock. Only the user's lookup, which locks nothing, comes before the claim. A call that would
  not succeed *after* the claim raises SQLSTATE ``RWR01``, which undoes the claim with everything
  else: nothing is written and the service runs the call step by step, as when no row comes back.
- **By amount, the rewards are spent in one statement** instead of a loop over a cursor: the
  user's unredeemed wallet rewards of campaigns open to the user, locked oldest first (``FOR
  UPDATE``, all of them, as the step-by-step path locks them), each one's share taken from a
  running sum (the last one in part), and the ``UPDATE … FROM`` of those shares, in one statement.
  A locked reward without an amount leaves the call to the step-by-step path (0009 did so when
  the loop reached one). Which rewards they are is read from the index ``earnedreward_unredeemed``
  alone (migration 0014 adds the campaign to it), not from every unredeemed reward's row: 0009
  read the row of each of the user's coupon rewards too, only to leave it out. The campaigns are
  looked up by their key, once per campaign of the user's rewards (``LATERAL … LIMIT 1``), so the
  generic plan never scans an org's campaigns (see 0011).
- The credit and its ledger entry are one statement (``WITH moved AS (UPDATE …) INSERT … SELECT``,
  as ``wallets.sql.POST_MANY``), and so are the call record, the stored answer and the outbox
  event. The answer is read as JSON once.
- ``plan_cache_mode = force_generic_plan``: the function's statements use their generic plans from
  the first call of a session, not after five custom ones (each a planning of the statement).

The reverse migration restores 0009's function.
"""

import importlib

from django.db import migrations

from core.migration_sql import run_sql_for

SIGNATURE = (
    "wallets_redeem_call(bigint, text, text, text, numeric, bigint, bigint, bigint, text, text, "
    "timestamptz, timestamptz, jsonb, text, integer, integer, text, text)"
)

POSTGRES_UP = r"""
CREATE OR REPLACE FUNCTION wallets_redeem_call(
    p_org bigint, p_mode text, p_lookup text, p_identifier text,
    p_amount numeric, p_pool bigint, p_pool_campaign bigint, p_pool_segment bigint,
    p_key text, p_digest text, p_key_expired timestamptz,
    p_now timestamptz, p_summary jsonb, p_user_identifier text,
    p_http_status integer, p_status_code integer, p_answer text, p_event_kind text
) RETURNS TABLE (call_id bigint, event_pk bigint, answer text)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    r record;
    k record;
    v_key_id bigint;
    v_codes text[];
    v_amount numeric;  -- credited: by amount only
    v_taken jsonb := '{}';  -- code -> amount taken from that reward: by amount only
    v_coupon bigint;
    v_wallet bigint;
    v_balance numeric;
    v_entry bigint;
    v_payload jsonb;
    v_answer text;
    v_response jsonb;
    v_reference uuid := gen_random_uuid();  -- the call's, on the ledger entry it makes
    v_ledger_reference text := 'appvirality-redeem:' || replace(v_reference::text, '-', '');
BEGIN
    -- the user: one column, as customer_key chose it (no lock)
    IF p_lookup = 'user_key' THEN
        SELECT id, blocked, external_id, email, mobile, user_key INTO c FROM orgs_customer
         WHERE org_id = p_org AND user_key = p_identifier::uuid;
    ELSIF p_lookup = 'external_id' THEN
        SELECT id, blocked, external_id, email, mobile, user_key INTO c FROM orgs_customer
         WHERE org_id = p_org AND external_id = p_identifier;
    ELSIF p_lookup = 'email' THEN
        SELECT id, blocked, external_id, email, mobile, user_key INTO c FROM orgs_customer
         WHERE org_id = p_org AND email = p_identifier;
    ELSE
        RETURN;
    END IF;
    IF NOT FOUND OR c.blocked OR p_mode NOT IN ('POOL', 'AMOUNT') THEN
        RETURN;
    END IF;
    -- by pool: the pool's campaign (checked by the caller from the pool) and its segment, if any
    IF p_mode = 'POOL' AND p_pool_segment IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM orgs_customersegment WHERE customer_id = c.id AND segment_id = p_pool_segment
    ) THEN
        RETURN;
    END IF;

    -- the Idempotency-Key, first, as step by step: taken (and not expired) means a replay. From
    -- here on, a call that would not succeed raises RWR01, which undoes the claim.
    IF p_key IS NOT NULL THEN
        INSERT INTO wallets_idempotencykey AS i (org_id, key, body_digest, created_at)
        VALUES (p_org, p_key, p_digest, p_now)
        ON CONFLICT (org_id, key) DO UPDATE
           SET body_digest = EXCLUDED.body_digest, created_at = EXCLUDED.created_at,
               http_status = NULL, response = NULL
         WHERE i.created_at < p_key_expired
        RETURNING i.id INTO v_key_id;
        IF v_key_id IS NULL THEN
            RETURN;
        END IF;
    END IF;

    IF p_mode = 'POOL' THEN
        -- the oldest unredeemed reward of the pool's campaign, then the pool's next free coupon
        SELECT id, code INTO r FROM wallets_earnedreward
         WHERE org_id = p_org AND customer_id = c.id AND campaign_id = p_pool_campaign
           AND status = 'UNREDEEMED' AND review_status = 'APPROVED'
         ORDER BY earned_at, id LIMIT 1
         FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no reward' USING ERRCODE = 'RWR01';
        END IF;
        SELECT id, code, expires_at INTO k FROM coupons_coupon
         WHERE pool_id = p_pool AND org_id = p_org AND status = 'AVAILABLE'
           AND (expires_at IS NULL OR expires_at > p_now)
         ORDER BY id + 0 LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no coupon' USING ERRCODE = 'RWR01';
        END IF;
        UPDATE coupons_coupon SET status = 'ISSUED', holder_id = c.id, issued_at = p_now WHERE id = k.id;
        UPDATE wallets_earnedreward SET status = 'REDEEMED', redeemed_at = p_now WHERE id = r.id;
        v_codes := ARRAY[r.code::text];
        v_coupon := k.id;
        v_answer := replace(replace(replace(p_answer,
            '"\u0000coupon_code"', to_json(k.code::text)::text),
            '"\u0000coupon_expires_at"', CASE WHEN k.expires_at IS NULL THEN 'null' ELSE to_json(
                to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN to_char(k.expires_at AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                        ELSE to_char(k.expires_at AT TIME ZONE 'UTC', '.US') END
                || '+00:00')::text END),
            '"\u0000reward_code"', to_json(r.code::text)::text);
        v_payload := jsonb_build_object('customer', jsonb_build_object('id', c.id, 'externalId', c.external_id,
                'email', c.email, 'mobile', c.mobile, 'userKey', c.user_key::text),
            'rewardCodes', jsonb_build_array(r.code),
            'coupon', jsonb_build_object('id', k.id, 'code', k.code, 'poolId', p_pool));
    ELSE
        -- the user's unredeemed wallet rewards of campaigns open to the user, all locked oldest
        -- first; each gives what is still wanted after the older ones (the last one in part).
        -- Which they are is read from the index alone (earnedreward_unredeemed holds the campaign),
        -- each campaign of the user's rewards looked up once by its key; then those rows are locked.
        WITH open_rewards AS MATERIALIZED (
            SELECT unnest(mine.ids) AS id
              FROM (SELECT u.campaign_id, array_agg(u.id) AS ids FROM wallets_earnedreward u
                     WHERE u.org_id = p_org AND u.customer_id = c.id AND u.status = 'UNREDEEMED'
                     GROUP BY u.campaign_id) AS mine
             CROSS JOIN LATERAL (
                   SELECT 1 FROM orgs_campaign ca
                    WHERE ca.id = mine.campaign_id AND ca.reward_type = 'WALLET'
                      AND ca.active AND (ca.ends_at IS NULL OR ca.ends_at > p_now)
                      AND (ca.eligible_segment_id IS NULL OR EXISTS (
                           SELECT 1 FROM orgs_customersegment s
                            WHERE s.customer_id = c.id AND s.segment_id = ca.eligible_segment_id))
                    LIMIT 1) AS open
        ), locked AS (
            SELECT e.id, e.code, e.earned_at, e.amount - e.redeemed_amount AS remaining
              FROM wallets_earnedreward e
             WHERE e.id IN (SELECT id FROM open_rewards) AND e.review_status = 'APPROVED' AND e.status = 'UNREDEEMED'
             ORDER BY e.earned_at, e.id
             FOR UPDATE OF e
        ), running AS (
            SELECT id, code, remaining,
                   row_number() OVER older AS ord,
                   sum(remaining) OVER older - remaining AS earlier,
                   sum(remaining) OVER () AS available,
                   count(*) FILTER (WHERE remaining IS NULL) OVER () AS without_amount
              FROM locked
            WINDOW older AS (ORDER BY earned_at, id ROWS UNBOUNDED PRECEDING)
        ), taken AS (
            SELECT id, code, ord, LEAST(remaining, p_amount - earlier) AS take
              FROM running
             WHERE earlier < p_amount AND available >= p_amount AND without_amount = 0
        ), spent AS (
            UPDATE wallets_earnedreward e
               SET redeemed_amount = e.redeemed_amount + t.take,
                   status = CASE WHEN e.amount - e.redeemed_amount - t.take = 0 THEN 'REDEEMED' ELSE e.status END,
                   redeemed_at = CASE WHEN e.amount - e.redeemed_amount - t.take = 0 THEN p_now ELSE e.redeemed_at END
              FROM taken t
             WHERE e.id = t.id
            RETURNING t.ord, t.code, t.take
        )
        SELECT array_agg(code::text ORDER BY ord), jsonb_object_agg(code, take::numeric(14, 2)::text)
          INTO v_codes, v_taken FROM spent;
        IF v_codes IS NULL THEN
            RAISE EXCEPTION 'nothing to redeem, or more than there is' USING ERRCODE = 'RWR01';
        END IF;
        -- the credit and its ledger entry; the first credit opens the wallet
        FOR attempt IN 1..2 LOOP
            WITH moved AS (
                UPDATE wallets_wallet SET balance = balance + p_amount
                 WHERE org_id = p_org AND kind = 'CREDITS' AND customer_id = c.id AND balance + p_amount >= 0
                RETURNING id, balance
            )
            INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
            SELECT p_org, moved.id, p_amount, moved.balance, 'REDEMPTION', v_ledger_reference,
                   left('rewards ' || array_to_string(v_codes, ', '), 255), p_now
              FROM moved
            RETURNING id, wallet_id, balance_after INTO v_entry, v_wallet, v_balance;
            EXIT WHEN v_entry IS NOT NULL OR attempt = 2;
            INSERT INTO wallets_wallet (org_id, kind, customer_id, group_id, balance, created_at)
            VALUES (p_org, 'CREDITS', c.id, NULL, 0, p_now)
            ON CONFLICT DO NOTHING;  -- or opened meanwhile by a call that has committed
        END LOOP;
        IF v_entry IS NULL THEN
            RAISE EXCEPTION 'no credit wallet' USING ERRCODE = 'RWR01';
        END IF;
        v_amount := p_amount;
        v_answer := replace(replace(p_answer,
            '["\u0000reward_codes"]', to_json(v_codes)::text),
            '"\u0000balance"', to_json(v_balance::numeric(14, 2)::text)::text);
        v_payload := jsonb_build_object('customer', jsonb_build_object('id', c.id, 'externalId', c.external_id,
                'email', c.email, 'mobile', c.mobile, 'userKey', c.user_key::text),
            'amount', p_amount::numeric(14, 2)::text,
            'rewardCodes', to_jsonb(v_codes),
            'wallet', jsonb_build_object('id', v_wallet, 'kind', 'CREDITS',
                                         'balance', v_balance::numeric(14, 2)::text),
            'ledgerEntry', v_entry, 'reference', v_ledger_reference);
    END IF;

    -- the call record, the answer kept under the key, the outbox event
    v_response := v_answer::jsonb;
    WITH recorded AS (
        INSERT INTO wallets_redemptioncall (org_id, customer_id, mode, user_identifier, request_summary,
            status_code, http_status, response, amount, reward_codes, reward_amounts, coupon_id,
            ledger_entry_id, reference, idempotency_key, replayed, created_at)
        SELECT p_org, c.id, p_mode, p_user_identifier, p_summary, p_status_code, p_http_status, v_response,
            v_amount, to_jsonb(v_codes), v_taken, v_coupon, v_entry, v_reference, COALESCE(p_key, ''), false, p_now
        RETURNING id
    ), kept AS (
        UPDATE wallets_idempotencykey SET http_status = p_http_status, response = v_response WHERE id = v_key_id
    ), event AS (
        INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
        VALUES (p_org, gen_random_uuid(), p_event_kind, v_payload, p_now)
        RETURNING id
    )
    SELECT recorded.id, event.id INTO call_id, event_pk FROM recorded, event;
    answer := v_answer;
    RETURN NEXT;
END $$;
"""

GENERIC_PLANS = f"ALTER FUNCTION {SIGNATURE} SET plan_cache_mode = force_generic_plan"


def restore_0009(apps, schema_editor):
    """Put back 0009's function, as that migration created it (and its plans as PostgreSQL chooses)."""
    created = importlib.import_module("wallets.migrations.0009_redeem_call_function").POSTGRES_UP
    statements = [created.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)]
    run_sql_for({"postgresql": [*statements, f"ALTER FUNCTION {SIGNATURE} RESET plan_cache_mode"]})(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0012_ledger_wallet_index_wallet_fillfactor")]

    operations = [migrations.RunPython(run_sql_for({"postgresql": [POSTGRES_UP, GENERIC_PLANS]}), restore_0009)]
