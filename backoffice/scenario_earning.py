"""The earning parts of a scenario file (docs/contracts/appvirality-companion.md, "Scenario file
additions"): campaign rules, checked against their campaign and written, and webhook endpoints."""

from __future__ import annotations

from decimal import Decimal

from core.money import to_money
from orgs.models import Campaign, WebhookEndpoint
from wallets.models import CampaignRule


def rules_problems(campaign: dict) -> list[tuple[list, str]]:
    """(path under the campaign, message) for each rule that does not fit its campaign: one rule per
    event name; referrer/friend in Word_of_Mouth, user in Loyalty_Program; amounts or percentages
    in WALLET campaigns, one coupon in COUPONS ones."""
    wanted = ("referrer", "friend") if campaign["growth_hack"] == "Word_of_Mouth" else ("user",)
    problems, events = [], {}
    for r, rule in enumerate(campaign.get("rules", [])):
        event = rule["event"].lower()
        if event in events:
            problems.append(
                (["rules", r, "event"], f"duplicate rule for event {rule['event']!r} (also rules[{events[event]}])")
            )
        events.setdefault(event, r)
        for side in CampaignRule.SIDES:
            if rule.get(side) is None:
                continue
            if side not in wanted:
                problems.append(
                    (["rules", r, side], f"a {campaign['growth_hack']} campaign pays {' and '.join(wanted)}")
                )
            elif ("coupon" in rule[side]) != (campaign["reward_type"] == "COUPONS"):
                problems.append(
                    (["rules", r, side], 'a COUPONS campaign pays {"coupon": true}, a WALLET one an amount')
                )
    return problems


def rules_write(*, campaign: Campaign, rules: list[dict]) -> None:
    rows = []
    for data in rules:
        sides = {}
        for side in CampaignRule.SIDES:
            spec = data.get(side) or {}
            sides[f"{side}_amount"] = to_money(spec["amount"]) if "amount" in spec else None
            sides[f"{side}_percent"] = Decimal(spec["percent"]) if "percent" in spec else None
            sides[f"{side}_max"] = to_money(spec["max"]) if "max" in spec else None
            sides[f"{side}_coupon"] = bool(spec.get("coupon"))
        rows.append(
            CampaignRule(
                org_id=campaign.org_id,
                campaign=campaign,
                event=data["event"],
                per_user=data.get("per_user", 1),
                review_days=data.get("review_days", 0),
                active=data.get("active", True),
                **sides,
            )
        )
    CampaignRule.objects.bulk_create(rows)


def webhooks_write(*, org: dict) -> None:
    WebhookEndpoint.objects.bulk_create(
        WebhookEndpoint(
            org_id=org["id"],
            url=data["url"],
            secret=data["secret"],
            format=data.get("format", "native"),
            securekey=data.get("securekey", ""),
            kinds=data.get("kinds", []),
        )
        for data in org.get("webhooks", [])
    )
