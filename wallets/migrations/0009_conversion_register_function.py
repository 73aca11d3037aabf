"""The write of registerconversionevent in one round trip on PostgreSQL: ``wallets_conversion_register``.

Called by ``wallets.conversions`` (``sql.CONVERSION["postgresql"]["register"]``) with what the service
planned in Python (the rules matched, the amounts, the codes, the events' payloads); in the one
transaction of the call it:

1. claims the tskey: the conversion's row, ``ON CONFLICT DO NOTHING`` on the unique constraint
   (a concurrent repeat waits for the first call, then claims nothing): nothing more is written
   and ``claimed`` is false;
2. takes one usage of each rule (``p_rules``, in rule id order: the lock order), refused past its
   ``per_user`` (``p_limits``): one upsert each, the row lock serialising racers;
3. writes the rewards (``p_rewards``) of the rules that paid, the answer kept for repeats
   (``p_answer``: [rule id, line] pairs; NULL without a tskey) and one outbox event per rule that
   paid (``p_events``).

Returns (claimed, the ids of the rules that paid, the ids of the outbox events written).
SQLite has no such function: the service runs the same steps one statement at a time.
"""

from django.db import migrations

from core.migration_sql import run_sql_for

POSTGRES_UP = r"""
CREATE FUNCTION wallets_conversion_register(
    p_id bigint, p_org bigint, p_customer bigint, p_event text, p_value numeric, p_unit text,
    p_extra text, p_tskey text, p_now timestamptz, p_rules bigint[], p_limits integer[],
    p_rewards jsonb, p_answer jsonb, p_events jsonb,
    OUT claimed boolean, OUT paid bigint[], OUT events bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    INSERT INTO wallets_conversionevent
           (id, org_id, customer_id, event_name, transaction_value, transaction_unit, extra_info, tskey, created_at)
    VALUES (p_id, p_org, p_customer, p_event, p_value, p_unit, p_extra, p_tskey, p_now)
    ON CONFLICT (org_id, customer_id, tskey) DO NOTHING;
    claimed := FOUND;
    paid := '{}';
    IF NOT claimed THEN
        RETURN;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_rules, 1), 0) LOOP
        INSERT INTO wallets_ruleusage (org_id, rule_id, customer_id, count) VALUES (p_org, p_rules[i], p_customer, 1)
        ON CONFLICT (rule_id, customer_id) DO UPDATE SET count = wallets_ruleusage.count + 1
         WHERE wallets_ruleusage.count < p_limits[i];
        IF FOUND THEN
            paid := paid || p_rules[i];
        END IF;
    END LOOP;
    IF cardinality(paid) > 0 THEN
        INSERT INTO wallets_earnedreward
               (org_id, code, campaign_id, customer_id, amount, redeemed_amount, status, earned_at,
                review_status, review_until, review_comment, reviewed_by, beneficiary, conversion_id, rule_id)
        SELECT p_org, r.code, r.campaign, r.customer, r.amount, 0, 'UNREDEEMED', p_now,
               r.review, r.review_until, '', '', r.beneficiary, p_id, r.rule
          FROM jsonb_to_recordset(p_rewards) AS r(rule bigint, campaign bigint, customer bigint, amount numeric,
                                                  review text, review_until timestamptz, beneficiary text, code text)
         WHERE r.rule = ANY (paid);
        WITH written AS (
            INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
            SELECT p_org, (x.e ->> 'event_id')::uuid, x.e ->> 'kind', x.e -> 'payload', p_now
              FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(e, n)
             WHERE (x.e ->> 'rule')::bigint = ANY (paid)
             ORDER BY x.n
            RETURNING id
        )
        SELECT array_agg(id ORDER BY id) INTO events FROM written;
    END IF;
    IF p_tskey IS NOT NULL THEN
        UPDATE wallets_conversionevent
           SET answer = (SELECT coalesce(jsonb_agg(a.pair -> 1 ORDER BY a.n), '[]'::jsonb)
                           FROM jsonb_array_elements(p_answer) WITH ORDINALITY AS a(pair, n)
                          WHERE (a.pair ->> 0)::bigint = ANY (paid))
         WHERE id = p_id;
    END IF;
END
$$;
"""

POSTGRES_DOWN = "DROP FUNCTION IF EXISTS wallets_conversion_register"


class Migration(migrations.Migration):
    dependencies = [("wallets", "0008_merge_20261202_0027")]

    operations = [
        migrations.RunPython(run_sql_for({"postgresql": POSTGRES_UP}), run_sql_for({"postgresql": POSTGRES_DOWN}))
    ]
