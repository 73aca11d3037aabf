"""registerconversionevent in one round trip on PostgreSQL: ``wallets_conversion_call``.

It replaces ``wallets_conversion_register`` (migration 0009), which the service called after a read
of its own (the user, the referrer, their segments, the conversion's id): the call is now that read
and that write in one statement, its own transaction. Called by ``wallets.conversion_call``
(``sql.CONVERSION_CALL["postgresql"]``) with what Python decided before knowing the user
(``wallets.conversion_plan``): the rule sides that may pay (``p_sides``, in plan order: what each
pays, its answer line and its events' reward, with placeholders where the parties' values go), the
rules' ids and limits in id order (``p_rules``, ``p_limits``), one event payload per rule
(``p_events``), the eligible segment of the campaign the call names (``p_segment``), and the call's
own values for the events (``p_call``: the conversion, as the events and as their rewards show it,
and the moment, as JSON writes it). In its one transaction it:

1. finds the user by ``p_column`` (``user_key``, ``external_id``, ``email`` or ``mobile``, as
   ``orgs.selectors.customer_key`` names it), each by its unique index: none, ``outcome`` is
   ``unknown``; blocked, or not in ``p_segment``, ``refused`` (the service then decides the call
   step by step: the refusal, or the answer of a tskey already taken). Both write nothing;
2. keeps the sides that apply to the user and its referrer
   (``wallets.conversion_plan.side_applies``: the user in the campaign's eligible segment; a
   referral's sides only with a referrer, the referrer's side only when the referrer is eligible
   too), numbers them in plan order (the reward's code is ``av-<conversion id>-<number>``) and
   fills in the parties' values: the answer lines' ``code`` and ``user_key``, the events'
   ``rewarddtlid``, ``customer``, ``earnedAt`` and conversion;
3. claims the tskey: the conversion's row, with the answer kept for repeats, ``ON CONFLICT DO
   NOTHING`` on the unique constraint (a concurrent repeat waits for the first call): taken,
   ``outcome`` is ``replayed`` with the first call's answer, and nothing more is written;
4. takes one usage of each rule of the plan in rule id order (the lock order), refused past its
   ``per_user``: one upsert each, the row lock serialising racers;
5. writes the rewards of the rules that paid, one outbox event per rule that paid (its rewards in
   plan order), and, only when a rule was at its limit, the answer without its lines.

Returns (``outcome``: ``paid``, ``replayed``, ``unknown`` or ``refused``; the answer's lines; the
ids of the outbox events written). SQLite has no such function: the service runs the same steps one
statement at a time, and so does PostgreSQL for what the function leaves to it.
"""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from core.migration_sql import run_sql_for

POSTGRES_UP = r"""
DROP FUNCTION IF EXISTS wallets_conversion_register;
CREATE FUNCTION wallets_conversion_call(
    p_org bigint, p_column text, p_identifier text, p_event text, p_amount numeric, p_unit text,
    p_extra text, p_tskey text, p_now timestamptz, p_segment bigint, p_sides jsonb, p_rules bigint[],
    p_limits integer[], p_events jsonb, p_call jsonb,
    OUT outcome text, OUT lines jsonb, OUT event_ids bigint[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_customer bigint;
    v_blocked boolean;
    v_referrer bigint;
    v_ref jsonb;
    v_id bigint;
    v_plan jsonb;
    v_rules bigint[];
    v_paid bigint[] := '{}';
    i integer;
BEGIN
    IF p_column = 'external_id' THEN
        SELECT cu.id, cu.blocked, cu.referrer_id INTO v_customer, v_blocked, v_referrer
          FROM orgs_customer cu WHERE cu.org_id = p_org AND cu.external_id = p_identifier;
    ELSIF p_column = 'user_key' THEN
        SELECT cu.id, cu.blocked, cu.referrer_id INTO v_customer, v_blocked, v_referrer
          FROM orgs_customer cu WHERE cu.org_id = p_org AND cu.user_key = p_identifier::uuid;
    ELSIF p_column = 'email' THEN
        SELECT cu.id, cu.blocked, cu.referrer_id INTO v_customer, v_blocked, v_referrer
          FROM orgs_customer cu WHERE cu.org_id = p_org AND cu.email = p_identifier;
    ELSIF p_column = 'mobile' THEN
        SELECT cu.id, cu.blocked, cu.referrer_id INTO v_customer, v_blocked, v_referrer
          FROM orgs_customer cu WHERE cu.org_id = p_org AND cu.mobile = p_identifier;
    ELSE
        RAISE EXCEPTION 'not a customer identifier: %', p_column;
    END IF;
    IF v_customer IS NULL THEN
        outcome := 'unknown';
        RETURN;
    END IF;
    IF v_blocked OR (p_segment IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM orgs_customersegment s WHERE s.customer_id = v_customer AND s.segment_id = p_segment)) THEN
        outcome := 'refused';
        RETURN;
    END IF;
    v_id := nextval(pg_get_serial_sequence('wallets_conversionevent', 'id'));

    WITH parties AS (
        SELECT w.id, w.blocked, w.user_key, w.name,
               jsonb_build_object('id', w.id, 'externalId', w.external_id, 'email', w.email, 'mobile', w.mobile,
                                  'userKey', w.user_key) AS ref
          FROM orgs_customer w
         WHERE w.id IN (v_customer, v_referrer)
    ), plan AS (
        SELECT s.*, w.id AS who, w.user_key, w.name, w.ref, row_number() OVER (ORDER BY s.n) AS number
          FROM jsonb_to_recordset(p_sides) AS s(n integer, rule bigint, campaign bigint, segment bigint,
                                                beneficiary text, amount numeric, review text, review_days integer,
                                                line jsonb, reward jsonb)
          JOIN parties w ON w.id = CASE WHEN s.beneficiary = 'referrer' THEN v_referrer ELSE v_customer END
         WHERE (s.segment IS NULL OR EXISTS (
                    SELECT 1 FROM orgs_customersegment cs WHERE cs.customer_id = v_customer AND cs.segment_id = s.segment))
           AND (s.beneficiary = 'user' OR v_referrer IS NOT NULL)
           AND (s.beneficiary <> 'referrer' OR (NOT w.blocked AND (s.segment IS NULL OR EXISTS (
                    SELECT 1 FROM orgs_customersegment rs WHERE rs.customer_id = w.id AND rs.segment_id = s.segment))))
    ), coded AS (
        SELECT p.*, 'av-' || v_id || '-' || p.number AS code FROM plan p
    )
    SELECT (SELECT ref FROM parties WHERE id = v_customer),
           coalesce(jsonb_agg(jsonb_build_object(
               'rule', c.rule, 'campaign', c.campaign, 'customer', c.who, 'amount', c.amount, 'review', c.review,
               'review_until', CASE WHEN c.review_days > 0 THEN p_now + c.review_days * interval '24 hours' END,
               'beneficiary', c.beneficiary, 'code', c.code,
               'line', c.line || jsonb_build_object('code', c.code, 'user_key', c.user_key),
               'reward', c.reward || jsonb_build_object(
                   'rewarddtlid', c.code, 'customer', c.ref || jsonb_build_object('name', c.name),
                   'earnedAt', p_call -> 'earnedAt', 'conversion', (p_call -> 'seen') || jsonb_build_object('id', v_id)))
               ORDER BY c.number), '[]'),
           coalesce(jsonb_agg(c.line || jsonb_build_object('code', c.code, 'user_key', c.user_key) ORDER BY c.number),
                    '[]'),
           coalesce(array_agg(DISTINCT c.rule), '{}')
      INTO v_ref, v_plan, lines, v_rules
      FROM coded c;

    INSERT INTO wallets_conversionevent
           (id, org_id, customer_id, event_name, transaction_value, transaction_unit, extra_info, tskey, created_at,
            answer)
    VALUES (v_id, p_org, v_customer, p_event, p_amount, p_unit, p_extra, p_tskey, p_now,
            CASE WHEN p_tskey IS NOT NULL THEN lines END)
    ON CONFLICT (org_id, customer_id, tskey) DO NOTHING;
    IF NOT FOUND THEN
        SELECT e.answer INTO lines
          FROM wallets_conversionevent e WHERE e.org_id = p_org AND e.customer_id = v_customer AND e.tskey = p_tskey;
        outcome := 'replayed';
        RETURN;
    END IF;
    outcome := 'paid';
    FOR i IN 1 .. coalesce(array_length(p_rules, 1), 0) LOOP
        CONTINUE WHEN NOT p_rules[i] = ANY (v_rules);
        INSERT INTO wallets_ruleusage AS u (org_id, rule_id, customer_id, count)
        VALUES (p_org, p_rules[i], v_customer, 1)
        ON CONFLICT (rule_id, customer_id) DO UPDATE SET count = u.count + 1 WHERE u.count < p_limits[i];
        IF FOUND THEN
            v_paid := v_paid || p_rules[i];
        END IF;
    END LOOP;
    IF cardinality(v_paid) < cardinality(v_rules) THEN  -- a rule at its limit: none of its lines
        SELECT coalesce(jsonb_agg(x -> 'line' ORDER BY x.n), '[]') INTO lines
          FROM jsonb_array_elements(v_plan) WITH ORDINALITY AS x(x, n)
         WHERE (x -> 'rule')::bigint = ANY (v_paid);
        IF p_tskey IS NOT NULL THEN
            UPDATE wallets_conversionevent SET answer = lines WHERE id = v_id;
        END IF;
    END IF;
    IF cardinality(v_paid) > 0 THEN
        INSERT INTO wallets_earnedreward
               (org_id, code, campaign_id, customer_id, amount, redeemed_amount, status, earned_at,
                review_status, review_until, review_comment, reviewed_by, beneficiary, conversion_id, rule_id)
        SELECT p_org, r.code, r.campaign, r.customer, r.amount, 0, 'UNREDEEMED', p_now,
               r.review, r.review_until, '', '', r.beneficiary, v_id, r.rule
          FROM jsonb_to_recordset(v_plan) AS r(rule bigint, campaign bigint, customer bigint, amount numeric,
                                               review text, review_until timestamptz, beneficiary text, code text)
         WHERE r.rule = ANY (v_paid);
        WITH written AS (
            INSERT INTO orgs_outboxevent (org_id, event_id, kind, payload, created_at)
            SELECT p_org, gen_random_uuid(), e.kind,
                   e.payload || jsonb_build_object(
                       'conversion', (p_call -> 'conversion') || jsonb_build_object('id', v_id),
                       'customer', v_ref,
                       'rewards', (SELECT jsonb_agg(x -> 'reward' ORDER BY x.n)
                                     FROM jsonb_array_elements(v_plan) WITH ORDINALITY AS x(x, n)
                                    WHERE (x -> 'rule')::bigint = e.rule)),
                   p_now
              FROM jsonb_to_recordset(p_events) AS e(rule bigint, kind text, payload jsonb)
             WHERE e.rule = ANY (v_paid)
             ORDER BY e.rule
            RETURNING id
        )
        SELECT array_agg(id ORDER BY id) INTO event_ids FROM written;
    END IF;
END
$$;
-- Its statements' plans are the same whatever the call (lookups by unique index or id, inserts of the
-- rows it is given): planned once per session instead of for every call, a twentieth of its time.
ALTER FUNCTION wallets_conversion_call SET plan_cache_mode = force_generic_plan;
"""

POSTGRES_DOWN = "DROP FUNCTION IF EXISTS wallets_conversion_call"


def _register_function(apps, schema_editor):
    """Back to migration 0009's function."""
    earlier = importlib.import_module("wallets.migrations.0009_conversion_register_function")
    run_sql_for({"postgresql": [POSTGRES_DOWN, earlier.POSTGRES_UP]})(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0014_earnedreward_unredeemed_campaign")]

    operations = [
        migrations.RunPython(run_sql_for({"postgresql": POSTGRES_UP}), _register_function),
        # Indexes every call wrote and no query needs: a composite index leads with the column.
        migrations.AlterField(
            model_name="conversionevent",
            name="org",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="orgs.org"
            ),
        ),
        migrations.AlterField(
            model_name="earnedreward",
            name="org",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="orgs.org"
            ),
        ),
        migrations.AlterField(
            model_name="ruleusage",
            name="rule",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="usages",
                to="wallets.campaignrule",
            ),
        ),
    ]
