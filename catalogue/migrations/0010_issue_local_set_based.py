"""``catalogue_issue_local(call jsonb)`` set-based: the call's JSON is unpacked once, into arrays of
two composite types (``catalogue_issue_line``, ``catalogue_issue_wallet``), and each table's rows
are written by one statement instead of one per line.

The same steps, lock order and rows as the function of migration 0008 (its docstring describes
them); what changed is how each step is written:

1. the requestIds: one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` in the given (sorted) order;
   fewer rows back than claims means one is held by another call: SQLSTATE ``RWI01`` ("claimed").
   Each line names its claim's place in that order (``claim``);
2. the promotion holders, in id order (no statement when there are none);
3. the goods, line by line, in the call's order (a statement only for a cart promotion with a
   limit, or coupons): a limit counts the units ISSUED so far and this call's earlier issued lines
   of the same promotion, whose rows are written below; the lines that fail let their requestIds
   go (one DELETE);
4. the paying wallets, in id order: one conditional UPDATE each (isRedeemable under the lock),
   then that wallet's ledger entries in one INSERT, in line order, each one's ``balance_after``
   the running balance; short: SQLSTATE ``RWI01`` ("short");
5. the issue rows in one INSERT, then their outbox events in one INSERT, in line order (issue and
   event ids follow line order, as before); then the rows of the call: (line, outcome, issue id,
   coupon codes, units held, outbox event id).

Plain plans: every statement reads the lines as one scan of the array (no sort, no join), which
PL/pgSQL keeps for the session. The reverse migration puts 0008's function back (``issue_statement``
still sends the ``paid`` key it reads).
"""

from django.db import migrations

from core.migration_sql import run_sql_for

ISSUE_LINE = """
CREATE TYPE catalogue_issue_line AS (
    line int, claim int, type text, org bigint, customer bigint, "group" bigint, wallet bigint, reward bigint,
    config bigint, pool bigint, promotion bigint, max int, qty int, req_qty int, points numeric,
    value numeric, ref text, memo text, till text, request_id text, event_log_id text, txn text,
    notes text, brand text, custom_fields jsonb, fstatus text, event jsonb
);
"""

ISSUE_WALLET = "CREATE TYPE catalogue_issue_wallet AS (wallet bigint, org bigint, needed numeric);"

# Every statement reads the lines as one scan of the array (``unnest … WITH ORDINALITY``: no sort,
# no join), so its rows come in the lines' order and what it returns comes back in that order too:
# the k-th claim's id is the k-th returned, and so on. Per-line values computed in the function
# (outcome, coupons, claim, issue and event ids, ledger balance) are arrays indexed like the lines.
FUNCTION = r"""
CREATE OR REPLACE FUNCTION catalogue_issue_local(call jsonb)
RETURNS TABLE (line int, outcome text, issue_id bigint, coupon_codes jsonb, held bigint, event_pk bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ts timestamptz := (call->>'now')::timestamptz;
    lines catalogue_issue_line[];
    wallets catalogue_issue_wallet[];
    n int;
    claims int := jsonb_array_length(call->'claims');
    outcomes text[];
    codes jsonb[];
    code_lists jsonb[];
    helds bigint[];
    afters numeric[];
    claim_ids bigint[];
    issue_ids bigint[];
    issue_at bigint[];
    event_ids bigint[];
    freed bigint[] := '{}';
    l catalogue_issue_line;
    w catalogue_issue_wallet;
    k int;
    j int;
    m int;
    units bigint;
    taken int;
    got jsonb;
    got_codes jsonb;
    total numeric;
    running numeric;
BEGIN
    SELECT array_agg(r) INTO lines FROM jsonb_populate_recordset(NULL::catalogue_issue_line, call->'lines') r;
    SELECT array_agg(r) INTO wallets FROM jsonb_populate_recordset(NULL::catalogue_issue_wallet, call->'wallets') r;
    n := COALESCE(cardinality(lines), 0);
    outcomes := array_fill('ISSUED'::text, ARRAY[n]);
    codes := array_fill('[]'::jsonb, ARRAY[n]);
    code_lists := array_fill('[]'::jsonb, ARRAY[n]);
    helds := array_fill(NULL::bigint, ARRAY[n]);
    afters := array_fill(NULL::numeric, ARRAY[n]);
    issue_at := array_fill(NULL::bigint, ARRAY[n]);

    -- 1. the requestIds, in the given (sorted) order; a line's claim is claim_ids[line.claim]
    IF claims > 0 THEN
        WITH claimed AS (
            INSERT INTO catalogue_issuerequest (org_id, request_key, request_id, payload_hash, state, created_at)
            SELECT c.org, c.key, c.rid, c.hash, 'DONE', now_ts
              FROM jsonb_to_recordset(call->'claims') AS c(org bigint, key text, rid text, hash text)
            ON CONFLICT (org_id, request_key) DO NOTHING
            RETURNING id
        )
        SELECT array_agg(claimed.id) INTO claim_ids FROM claimed;
        IF COALESCE(cardinality(claim_ids), 0) < claims THEN
            RAISE EXCEPTION 'claimed' USING ERRCODE = 'RWI01';
        END IF;
    END IF;

    -- 2. the customers whose cart-promotion limits are checked, in id order
    IF jsonb_array_length(call->'holders') > 0 THEN
        PERFORM 1 FROM orgs_customer
          WHERE id IN (SELECT jsonb_array_elements_text(call->'holders')::bigint)
          ORDER BY id FOR UPDATE;
    END IF;

    -- 3. the goods, line by line: a cart promotion within its limit, or the coupons of its series
    FOR k IN 1 .. n LOOP
        l := lines[k];
        IF l.type = 'CART_PROMOTION' AND l.max IS NOT NULL THEN
            SELECT COALESCE(SUM(ri.quantity), 0) INTO units FROM catalogue_rewardissue ri
             WHERE ri.org_id = l.org AND ri.customer_id = l.customer AND ri.promotion_id = l.promotion
               AND ri.status = 'ISSUED';
            FOR j IN 1 .. k - 1 LOOP  -- this call's earlier lines of the promotion (their rows come below)
                IF outcomes[j] = 'ISSUED' AND (lines[j]).type = 'CART_PROMOTION' AND (lines[j]).org = l.org
                   AND (lines[j]).customer = l.customer AND (lines[j]).promotion = l.promotion THEN
                    units := units + (lines[j]).qty;
                END IF;
            END LOOP;
            IF units + l.qty > l.max THEN
                outcomes[k] := 'PROMOTION_LIMIT';
                helds[k] := units;
            END IF;
        ELSIF l.type = 'COUPON' THEN
            WITH picked AS (
                SELECT cp.id FROM coupons_coupon cp
                 WHERE cp.pool_id = l.pool AND cp.org_id = l.org
                   AND cp.status = 'AVAILABLE' AND (cp.expires_at IS NULL OR cp.expires_at > now_ts)
                 ORDER BY cp.id + 0 LIMIT l.qty
                 FOR UPDATE SKIP LOCKED
            ), given AS (
                UPDATE coupons_coupon AS cp SET status = 'ISSUED', holder_id = l.customer, issued_at = now_ts
                  FROM picked
                 WHERE cp.id = picked.id AND (SELECT count(*) FROM picked) = l.qty
                RETURNING cp.id, cp.code, cp.expires_at
            )
            SELECT count(*),
                   COALESCE(jsonb_agg(jsonb_build_object(
                       'code', given.code,
                       'expiry', to_char(given.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                   ) ORDER BY given.id), '[]'::jsonb),
                   COALESCE(jsonb_agg(to_jsonb(given.code) ORDER BY given.id), '[]'::jsonb)
              INTO taken, got, got_codes FROM given;
            IF taken < l.qty THEN
                outcomes[k] := 'NO_COUPONS';
            ELSE
                codes[k] := got;
                code_lists[k] := got_codes;
            END IF;
        END IF;
        IF outcomes[k] <> 'ISSUED' AND l.claim IS NOT NULL THEN
            freed := freed || claim_ids[l.claim];
        END IF;
    END LOOP;
    IF cardinality(freed) > 0 THEN
        DELETE FROM catalogue_issuerequest WHERE id = ANY(freed);  -- not issued: their requestIds stay free
    END IF;

    -- 4. the paying wallets, in id order: isRedeemable under the lock, then the wallet's ledger
    --    entries, in line order, each one's balance_after the running balance
    FOREACH w IN ARRAY COALESCE(wallets, '{}') LOOP
        total := NULL;
        FOR k IN 1 .. n LOOP
            IF (lines[k]).wallet = w.wallet AND (lines[k]).points > 0 AND outcomes[k] = 'ISSUED' THEN
                total := COALESCE(total, 0) + (lines[k]).points;
            END IF;
        END LOOP;
        IF total IS NULL THEN
            PERFORM 1 FROM wallets_wallet ww WHERE ww.id = w.wallet AND ww.balance >= w.needed FOR UPDATE;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'short' USING ERRCODE = 'RWI01';
            END IF;
            CONTINUE;
        END IF;
        running := NULL;
        UPDATE wallets_wallet AS ww
           SET balance = ww.balance - total
         WHERE ww.id = w.wallet AND ww.org_id = w.org
           AND ww.balance - GREATEST(total, COALESCE(w.needed, 0)) >= 0
        RETURNING ww.balance + total INTO running;
        IF running IS NULL THEN
            RAISE EXCEPTION 'short' USING ERRCODE = 'RWI01';
        END IF;
        FOR k IN 1 .. n LOOP
            IF (lines[k]).wallet = w.wallet AND (lines[k]).points > 0 AND outcomes[k] = 'ISSUED' THEN
                running := running - (lines[k]).points;
                afters[k] := running;
            END IF;
        END LOOP;
        INSERT INTO wallets_ledgerentry (org_id, wallet_id, delta, balance_after, kind, reference, memo, created_at)
        SELECT w.org, w.wallet, -x.points, afters[x.ordinality], 'ISSUE', x.ref, x.memo, now_ts
          FROM unnest(lines) WITH ORDINALITY AS x
         WHERE x.wallet = w.wallet AND afters[x.ordinality] IS NOT NULL;
    END LOOP;

    -- 5. the issue rows, then their events, in line order
    WITH issued AS (
        INSERT INTO catalogue_rewardissue (
            org_id, points_reference_id, customer_id, group_id, group_loyalty_redemption, reward_id,
            payment_config_id, till_username, requested_quantity, quantity, points, redemption_value,
            coupon_codes, promotion_id, voucher, vendor_details, custom_fields, fulfillment_status, request_id,
            idempotency_id, event_log_id, transaction_number, notes, brand, status, created_at)
        SELECT x.org, x.ref, x.customer, x."group", x."group" IS NOT NULL, x.reward, x.config, x.till,
               x.req_qty, x.qty, x.points, x.value, codes[x.ordinality],
               CASE WHEN x.type = 'CART_PROMOTION' THEN x.promotion END, '', '{}'::jsonb,
               x.custom_fields, x.fstatus, x.request_id, claim_ids[x.claim], x.event_log_id, x.txn, x.notes,
               x.brand, 'ISSUED', now_ts
          FROM unnest(lines) WITH ORDINALITY AS x
         WHERE outcomes[x.ordinality] = 'ISSUED'
        RETURNING id
    )
    SELECT array_agg(issued.id) INTO issue_ids FROM issued;
    m := 0;
    FOR k IN 1 .. n LOOP  -- the issue ids, indexed like the lines
        IF outcomes[k] = 'ISSUED' THEN
            m := m + 1;
            issue_at[k] := issue_ids[m];
        END IF;
    END LOOP;
    IF m > 0 THEN
        WITH events AS (
            INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
            SELECT x.org, gen_random_uuid(), 'issue',
                   x.event || jsonb_build_object('transactionId', issue_at[x.ordinality],
                                                 'couponCodes', code_lists[x.ordinality]),
                   now_ts
              FROM unnest(lines) WITH ORDINALITY AS x
             WHERE issue_at[x.ordinality] IS NOT NULL
            RETURNING id
        )
        SELECT array_agg(events.id) INTO event_ids FROM events;
    END IF;

    -- the call's rows, in line order
    m := 0;
    FOR k IN 1 .. n LOOP
        line := (lines[k]).line;
        outcome := outcomes[k];
        issue_id := issue_at[k];
        held := helds[k];
        IF issue_id IS NULL THEN
            coupon_codes := '[]'::jsonb;
            event_pk := NULL;
        ELSE
            m := m + 1;
            coupon_codes := codes[k];
            event_pk := event_ids[m];
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
"""

DROP_NEW = [
    "DROP FUNCTION IF EXISTS catalogue_issue_local(jsonb);",
    "DROP TYPE IF EXISTS catalogue_issue_wallet;",
    "DROP TYPE IF EXISTS catalogue_issue_line;",
]


def _previous_function() -> str:
    from importlib import import_module

    return import_module("catalogue.migrations.0008_issue_local_function").POSTGRES_UP


def _up(apps, schema_editor):
    run_sql_for({"postgresql": ["DROP FUNCTION IF EXISTS catalogue_issue_local(jsonb);", ISSUE_LINE, ISSUE_WALLET, FUNCTION]})(
        apps, schema_editor
    )


def _down(apps, schema_editor):
    run_sql_for({"postgresql": [*DROP_NEW, _previous_function()]})(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0009_merge_0008_issue_local_function_0008_issue_refusal")]

    operations = [migrations.RunPython(_up, _down, elidable=False)]
