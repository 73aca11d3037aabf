"""``catalogue_issue_local(call jsonb)``: the transaction of an Issue Reward call of local rewards
(POINTS_ONLY, COUPON, CART_PROMOTION), on PostgreSQL, as ONE statement (``catalogue/issue_statement.py``
builds its input and reads its rows; ``catalogue/services.py`` decides when it runs).

It does what ``services._issue_together`` does step by step, in the same order and lock order:

1. claims the requestIds (``IssueRequest`` rows, DONE, in the given order: sorted by org and key);
   one held by another call raises SQLSTATE ``RWI01`` ("claimed"): nothing written, the caller
   takes the Python path, which waits for that call;
2. locks the customers whose cart-promotion limit the call checks (sorted by id);
3. line by line, in the call's order: a cart promotion within its per-customer limit (the units
   ISSUED so far, this call's earlier lines included), or the coupons of its series (SKIP LOCKED,
   all or none); a line that cannot have them fails alone and lets its requestId go; a line
   issued gets its ``RewardIssue`` row and its ``OutboxEvent`` (the payload the caller built, with
   the issue's id and coupon codes);
4. the paying wallets, sorted by id: one conditional UPDATE per wallet refusing unless the
   points of the whole call are there (isRedeemable under the lock) and one ledger entry per
   issued line, in line order; a wallet none of whose lines was issued is locked and checked.
   Short: SQLSTATE ``RWI01`` ("short"), nothing written; the caller takes the Python path.

Returns one row per line: (line, outcome, issue id, coupon codes, units held, outbox event id), outcome
ISSUED, NO_COUPONS or PROMOTION_LIMIT. The database guards (CHECK constraints, the ledger's
append-only and balance triggers) apply as to any other writer. SQLite has no such function: there
the Python path is the implementation, and the test suite runs on PostgreSQL over both paths.
"""

from django.db import migrations

from core.migration_sql import run_sql_for

POSTGRES_UP = r"""
CREATE FUNCTION catalogue_issue_local(call jsonb)
RETURNS TABLE (line int, outcome text, issue_id bigint, coupon_codes jsonb, held bigint, event_pk bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ts timestamptz := (call->>'now')::timestamptz;
    c jsonb;
    l jsonb;
    w jsonb;
    claim_ids jsonb := '{}'::jsonb;
    cid bigint;
    iid bigint;
    units bigint;
    taken int;
    codes jsonb;
    new_balance numeric;
    running numeric;
    posting jsonb;
BEGIN
    -- 1. the requestIds, in the given (sorted) order
    FOR c IN SELECT * FROM jsonb_array_elements(call->'claims') LOOP
        INSERT INTO catalogue_issuerequest (org_id, request_key, request_id, payload_hash, state, created_at)
        VALUES ((c->>'org')::bigint, c->>'key', c->>'rid', c->>'hash', 'DONE', now_ts)
        ON CONFLICT (org_id, request_key) DO NOTHING
        RETURNING id INTO cid;
        IF cid IS NULL THEN
            RAISE EXCEPTION 'claimed' USING ERRCODE = 'RWI01';
        END IF;
        claim_ids := claim_ids || jsonb_build_object(c->>'line', cid);
    END LOOP;

    -- 2. the customers whose cart-promotion limits are checked, in id order
    PERFORM 1 FROM orgs_customer
      WHERE id IN (SELECT jsonb_array_elements_text(call->'holders')::bigint)
      ORDER BY id FOR UPDATE;

    -- 3. each line's goods, its issue row and its event
    FOR l IN SELECT * FROM jsonb_array_elements(call->'lines') LOOP
        line := (l->>'line')::int;
        cid := (claim_ids->>(l->>'line'))::bigint;
        codes := '[]'::jsonb;
        held := NULL;
        outcome := 'ISSUED';
        IF l->>'type' = 'CART_PROMOTION' AND l->>'max' IS NOT NULL THEN
            SELECT COALESCE(SUM(ri.quantity), 0) INTO units FROM catalogue_rewardissue ri
             WHERE ri.org_id = (l->>'org')::bigint AND ri.customer_id = (l->>'customer')::bigint
               AND ri.promotion_id = (l->>'promotion')::bigint AND ri.status = 'ISSUED';
            IF units + (l->>'qty')::int > (l->>'max')::int THEN
                outcome := 'PROMOTION_LIMIT';
                held := units;
            END IF;
        ELSIF l->>'type' = 'COUPON' THEN
            WITH picked AS (
                SELECT cp.id FROM coupons_coupon cp
                 WHERE cp.pool_id = (l->>'pool')::bigint AND cp.org_id = (l->>'org')::bigint
                   AND cp.status = 'AVAILABLE' AND (cp.expires_at IS NULL OR cp.expires_at > now_ts)
                 ORDER BY cp.id + 0 LIMIT (l->>'qty')::int
                 FOR UPDATE SKIP LOCKED
            ), given AS (
                UPDATE coupons_coupon AS cp SET status = 'ISSUED', holder_id = (l->>'customer')::bigint,
                       issued_at = now_ts
                  FROM picked
                 WHERE cp.id = picked.id AND (SELECT count(*) FROM picked) = (l->>'qty')::int
                RETURNING cp.id, cp.code, cp.expires_at
            )
            SELECT count(*),
                   COALESCE(jsonb_agg(jsonb_build_object(
                       'code', given.code,
                       'expiry', to_char(given.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                   ) ORDER BY given.id), '[]'::jsonb)
              INTO taken, codes FROM given;
            IF taken < (l->>'qty')::int THEN
                outcome := 'NO_COUPONS';
                codes := '[]'::jsonb;
            END IF;
        END IF;
        IF outcome <> 'ISSUED' THEN
            IF cid IS NOT NULL THEN
                DELETE FROM catalogue_issuerequest WHERE id = cid;  -- not issued: its requestId stays free
            END IF;
            issue_id := NULL;
            event_pk := NULL;
            coupon_codes := '[]'::jsonb;
            RETURN NEXT;
            CONTINUE;
        END IF;
        INSERT INTO catalogue_rewardissue (
            org_id, points_reference_id, customer_id, group_id, group_loyalty_redemption, reward_id,
            payment_config_id, till_username, requested_quantity, quantity, points, redemption_value,
            coupon_codes, promotion_id, voucher, vendor_details, custom_fields, fulfillment_status, request_id,
            idempotency_id, event_log_id, transaction_number, notes, brand, status, created_at)
        VALUES (
            (l->>'org')::bigint, l->>'ref', (l->>'customer')::bigint, (l->>'group')::bigint,
            (l->>'group') IS NOT NULL, (l->>'reward')::bigint, (l->>'config')::bigint, l->>'till',
            (l->>'req_qty')::int, (l->>'qty')::int, (l->>'points')::numeric, (l->>'value')::numeric,
            codes, CASE WHEN l->>'type' = 'CART_PROMOTION' THEN (l->>'promotion')::bigint END, '', '{}'::jsonb,
            NULLIF(l->'custom_fields', 'null'::jsonb), l->>'fstatus', l->>'request_id', cid, l->>'event_log_id', l->>'txn',
            l->>'notes', l->>'brand', 'ISSUED', now_ts)
        RETURNING id INTO iid;
        INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
        VALUES ((l->>'org')::bigint, gen_random_uuid(), 'issue',
                (l->'event') || jsonb_build_object(
                    'transactionId', iid,
                    'couponCodes', COALESCE((SELECT jsonb_agg(x.v->'code' ORDER BY x.n)
                                               FROM jsonb_array_elements(codes) WITH ORDINALITY AS x(v, n)),
                                            '[]'::jsonb)),
                now_ts)
        RETURNING id INTO event_pk;
        IF (l->>'points')::numeric > 0 THEN
            posting := jsonb_build_object('ref', l->>'ref', 'points', l->>'points', 'memo', l->>'memo');
            call := jsonb_set(call, ARRAY['paid', l->>'wallet'],
                              COALESCE(call->'paid'->(l->>'wallet'), '[]'::jsonb) || posting, true);
        END IF;
        issue_id := iid;
        coupon_codes := codes;
        RETURN NEXT;
    END LOOP;

    -- 4. the paying wallets, in id order: isRedeemable under the lock, then the ledger entries
    FOR w IN SELECT * FROM jsonb_array_elements(call->'wallets') LOOP
        IF call->'paid' ? (w->>'wallet') THEN
            UPDATE wallets_wallet AS ww
               SET balance = ww.balance - t.total
              FROM (SELECT SUM((p->>'points')::numeric) AS total
                      FROM jsonb_array_elements(call->'paid'->(w->>'wallet')) p) t
             WHERE ww.id = (w->>'wallet')::bigint AND ww.org_id = (w->>'org')::bigint
               AND ww.balance - GREATEST(t.total, COALESCE((w->>'needed')::numeric, 0)) >= 0
            RETURNING ww.balance + t.total INTO running;
            IF running IS NULL THEN
                RAISE EXCEPTION 'short' USING ERRCODE = 'RWI01';
            END IF;
            FOR posting IN SELECT * FROM jsonb_array_elements(call->'paid'->(w->>'wallet')) LOOP
                running := running - (posting->>'points')::numeric;
                INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo,
                                                 created_at)
                VALUES ((w->>'org')::bigint, (w->>'wallet')::bigint, -(posting->>'points')::numeric, running,
                        'ISSUE', posting->>'ref', posting->>'memo', now_ts);
            END LOOP;
        ELSE
            PERFORM 1 FROM wallets_wallet
              WHERE id = (w->>'wallet')::bigint AND balance >= (w->>'needed')::numeric FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'short' USING ERRCODE = 'RWI01';
            END IF;
        END IF;
    END LOOP;
    RETURN;
END $$;
"""

POSTGRES_DOWN = "DROP FUNCTION IF EXISTS catalogue_issue_local(jsonb);"


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0007_fulfilment_history"),
        ("coupons", "0002_hot_table_autovacuum"),
        ("wallets", "0004_hot_table_autovacuum"),
    ]

    operations = [
        migrations.RunPython(
            run_sql_for({"postgresql": POSTGRES_UP}), run_sql_for({"postgresql": POSTGRES_DOWN}), elidable=False
        ),
    ]
