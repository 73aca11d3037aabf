"""Redeem Rewards by amount and by pool as one statement on PostgreSQL: ``wallets_redeem_call``.

The function does a call that succeeds, and only that: it finds the user (the column and value
``orgs.selectors.customer_key`` chose), checks that the user may redeem, locks and spends the
rewards (by amount: oldest first, the last one in part; by pool: the oldest unredeemed reward of
the pool's campaign and the pool's next free coupon, ``FOR UPDATE SKIP LOCKED``), claims the
Idempotency-Key, credits the wallet (opened on first use) with its ledger entry, and writes the call record, the
stored answer and the outbox event. It returns (call id, event id, answer text).

Whenever the call would not succeed (unknown or blocked user, nothing to redeem, amount too
large, pool empty, not eligible, the key already taken) it returns no row
and has written nothing: the service then runs the call step by step (``wallets/redeem.py``),
which decides and records the refusal. So every refusal has one implementation, in Python.

``p_answer`` is the answer the adapter rendered before the statement, with slots for what only
the statement knows (``wallets.redeem.Slot``): ``"\\u0000coupon_code"``, ``"\\u0000coupon_expires_at"``
(ISO 8601, as ``datetime.isoformat`` writes it, or null), ``"\\u0000balance"`` (two decimals) and
``["\\u0000reward_codes"]`` (the list of codes). Any later change is a new migration.
"""

from django.db import migrations

from core.migration_sql import run_sql_for

POSTGRES_UP = r"""
CREATE FUNCTION wallets_redeem_call(
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
    v_wallet bigint;
    v_left numeric := p_amount;
    v_take numeric;
    v_ids bigint[] := '{}';
    v_codes text[] := '{}';
    v_takes numeric[] := '{}';
    v_balance numeric;
    v_entry bigint;
    v_customer jsonb;
    v_payload jsonb;
    v_answer text;
    v_reference uuid := gen_random_uuid();  -- the call's, on the ledger entry it makes
    v_ledger_reference text := 'appvirality-redeem:' || replace(v_reference::text, '-', '');
BEGIN
    -- the user: one column, as customer_key chose it
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
    IF NOT FOUND OR c.blocked THEN
        RETURN;
    END IF;
    v_customer := jsonb_build_object('id', c.id, 'externalId', c.external_id, 'email', c.email,
                                     'mobile', c.mobile, 'userKey', c.user_key::text);

    IF p_mode = 'POOL' THEN
        -- the pool's campaign (checked by the caller from the pool) and its segment, if any
        IF p_pool_segment IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM orgs_customersegment WHERE customer_id = c.id AND segment_id = p_pool_segment
        ) THEN
            RETURN;
        END IF;
        SELECT id, code INTO r FROM wallets_earnedreward
         WHERE org_id = p_org AND customer_id = c.id AND campaign_id = p_pool_campaign
           AND status = 'UNREDEEMED' AND review_status = 'APPROVED'
         ORDER BY earned_at, id LIMIT 1
         FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        SELECT id, code, expires_at INTO k FROM coupons_coupon
         WHERE pool_id = p_pool AND org_id = p_org AND status = 'AVAILABLE'
           AND (expires_at IS NULL OR expires_at > p_now)
         ORDER BY id + 0 LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    ELSIF p_mode = 'AMOUNT' THEN
        -- the user's unredeemed wallet rewards of campaigns open to the user, oldest first
        FOR r IN
            SELECT e.id, e.code, e.amount - e.redeemed_amount AS remaining
              FROM wallets_earnedreward e JOIN orgs_campaign ca ON ca.id = e.campaign_id
             WHERE e.org_id = p_org AND e.customer_id = c.id AND e.review_status = 'APPROVED'
               AND e.status = 'UNREDEEMED' AND ca.reward_type = 'WALLET'
               AND ca.active AND (ca.ends_at IS NULL OR ca.ends_at > p_now)
               AND (ca.eligible_segment_id IS NULL OR EXISTS (
                    SELECT 1 FROM orgs_customersegment s
                     WHERE s.customer_id = c.id AND s.segment_id = ca.eligible_segment_id))
             ORDER BY e.earned_at, e.id
             FOR UPDATE OF e
        LOOP
            IF r.remaining IS NULL THEN
                RETURN;
            END IF;
            v_take := LEAST(v_left, r.remaining);
            v_ids := v_ids || r.id;
            v_codes := v_codes || r.code::text;
            v_takes := v_takes || v_take;
            v_left := v_left - v_take;
            EXIT WHEN v_left = 0;
        END LOOP;
        IF v_left > 0 OR cardinality(v_ids) = 0 THEN
            RETURN;  -- nothing to redeem, or more than there is
        END IF;
        SELECT id INTO v_wallet FROM wallets_wallet
         WHERE org_id = p_org AND kind = 'CREDITS' AND customer_id = c.id
         FOR UPDATE;  -- none yet: the first credit opens it, below
    ELSE
        RETURN;
    END IF;

    -- the Idempotency-Key, last before the writes: taken (and not expired) means a replay
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
        UPDATE coupons_coupon SET status = 'ISSUED', holder_id = c.id, issued_at = p_now WHERE id = k.id;
        UPDATE wallets_earnedreward SET status = 'REDEEMED', redeemed_at = p_now WHERE id = r.id;
        v_answer := replace(replace(replace(p_answer,
            '"\u0000coupon_code"', to_json(k.code::text)::text),
            '"\u0000coupon_expires_at"', CASE WHEN k.expires_at IS NULL THEN 'null' ELSE to_json(
                to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
                || CASE WHEN to_char(k.expires_at AT TIME ZONE 'UTC', 'US') = '000000' THEN ''
                        ELSE to_char(k.expires_at AT TIME ZONE 'UTC', '.US') END
                || '+00:00')::text END),
            '"\u0000reward_code"', to_json(r.code::text)::text);
        v_payload := jsonb_build_object('customer', v_customer, 'rewardCodes', jsonb_build_array(r.code),
            'coupon', jsonb_build_object('id', k.id, 'code', k.code, 'poolId', p_pool));
        INSERT INTO wallets_redemptioncall (org_id, customer_id, mode, user_identifier, request_summary,
            status_code, http_status, response, amount, reward_codes, reward_amounts, coupon_id,
            ledger_entry_id, reference, idempotency_key, replayed, created_at)
        VALUES (p_org, c.id, p_mode, p_user_identifier, p_summary, p_status_code, p_http_status,
            v_answer::jsonb, NULL, jsonb_build_array(r.code), '{}'::jsonb, k.id, NULL, v_reference,
            COALESCE(p_key, ''), false, p_now)
        RETURNING id INTO call_id;
    ELSE
        UPDATE wallets_earnedreward e
           SET redeemed_amount = e.redeemed_amount + t.take,
               status = CASE WHEN e.amount - e.redeemed_amount - t.take = 0 THEN 'REDEEMED' ELSE e.status END,
               redeemed_at = CASE WHEN e.amount - e.redeemed_amount - t.take = 0 THEN p_now ELSE e.redeemed_at END
          FROM unnest(v_ids, v_takes) AS t(id, take)
         WHERE e.id = t.id;
        IF v_wallet IS NULL THEN
            INSERT INTO wallets_wallet (org_id, kind, customer_id, group_id, balance, created_at)
            VALUES (p_org, 'CREDITS', c.id, NULL, 0, p_now)
            ON CONFLICT DO NOTHING
            RETURNING id INTO v_wallet;
            IF v_wallet IS NULL THEN  -- opened meanwhile by a call that has committed
                SELECT id INTO STRICT v_wallet FROM wallets_wallet
                 WHERE org_id = p_org AND kind = 'CREDITS' AND customer_id = c.id
                 FOR UPDATE;
            END IF;
        END IF;
        UPDATE wallets_wallet SET balance = balance + p_amount
         WHERE id = v_wallet AND balance + p_amount >= 0
        RETURNING balance INTO v_balance;
        INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
        VALUES (p_org, v_wallet, p_amount, v_balance, 'REDEMPTION', v_ledger_reference,
                left('rewards ' || array_to_string(v_codes, ', '), 255), p_now)
        RETURNING id INTO v_entry;
        v_answer := replace(replace(p_answer,
            '["\u0000reward_codes"]', to_json(v_codes)::text),
            '"\u0000balance"', to_json(v_balance::numeric(14, 2)::text)::text);
        v_payload := jsonb_build_object('customer', v_customer, 'amount', p_amount::numeric(14, 2)::text,
            'rewardCodes', to_jsonb(v_codes),
            'wallet', jsonb_build_object('id', v_wallet, 'kind', 'CREDITS',
                                         'balance', v_balance::numeric(14, 2)::text),
            'ledgerEntry', v_entry, 'reference', v_ledger_reference);
        INSERT INTO wallets_redemptioncall (org_id, customer_id, mode, user_identifier, request_summary,
            status_code, http_status, response, amount, reward_codes, reward_amounts, coupon_id,
            ledger_entry_id, reference, idempotency_key, replayed, created_at)
        SELECT p_org, c.id, p_mode, p_user_identifier, p_summary, p_status_code, p_http_status,
            v_answer::jsonb, p_amount, to_jsonb(v_codes),
            (SELECT jsonb_object_agg(t.code, t.take::numeric(14, 2)::text)
               FROM unnest(v_codes, v_takes) AS t(code, take)),
            NULL, v_entry, v_reference, COALESCE(p_key, ''), false, p_now
        RETURNING id INTO call_id;
    END IF;
    IF v_key_id IS NOT NULL THEN
        UPDATE wallets_idempotencykey SET http_status = p_http_status, response = v_answer::jsonb
         WHERE id = v_key_id;
    END IF;
    INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
    VALUES (p_org, gen_random_uuid(), p_event_kind, v_payload, p_now)
    RETURNING id INTO event_pk;
    answer := v_answer;
    RETURN NEXT;
END $$;
"""

POSTGRES_DOWN = """
DROP FUNCTION IF EXISTS wallets_redeem_call(bigint, text, text, text, numeric, bigint, bigint, bigint, text, text,
    timestamptz, timestamptz, jsonb, text, integer, integer, text, text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0008_merge_20261202_0027"),
        ("orgs", "0010_merge_0008_org_till_settings_0009_customer_referrer"),
        ("coupons", "0007_coupon_code_lookup_at_till"),
    ]

    operations = [
        migrations.RunPython(run_sql_for({"postgresql": POSTGRES_UP}), run_sql_for({"postgresql": POSTGRES_DOWN})),
    ]
