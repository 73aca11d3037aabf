"""``{% backoffice_dashboard %}``: the figures of the admin index, with a server-rendered SVG chart."""

from decimal import Decimal

from django import template
from django.utils import timezone

from backoffice.selectors import dashboard_figures, open_discrepancies, pools_low_on_stock

register = template.Library()

CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 600, 90, 2


def _bars(values: list, colour: str) -> dict:
    """Bar geometry of one series (no JavaScript, no external library)."""
    top = max((Decimal(v) for v in values), default=Decimal(0)) or Decimal(1)
    width = CHART_WIDTH / max(len(values), 1)
    bars = []
    for index, value in enumerate(values):
        height = float(Decimal(value) / top) * (CHART_HEIGHT - 12)
        bars.append(
            {
                "x": round(index * width, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "w": round(max(width - BAR_GAP, 1), 1),
                "h": round(height, 1),
                "value": value,
            }
        )
    return {"bars": bars, "colour": colour, "top": top}


@register.inclusion_tag("admin/backoffice/dashboard.html", takes_context=True)
def backoffice_dashboard(context):
    request = context["request"]
    user = request.user
    if not (user.has_perm("wallets.view_redemptioncall") and user.has_perm("catalogue.view_rewardissue")):
        return {"shown": False}
    days = dashboard_figures(user=user)
    today = days[-1]
    series = [
        ("Redemptions", [d.redemptions for d in days], "#417690"),
        ("Credits redeemed", [d.credits_redeemed for d in days], "#79aec8"),
        ("Issued rewards", [d.issues for d in days], "#c2743d"),
        ("Points redeemed", [d.points_redeemed for d in days], "#ba2121"),
    ]
    return {
        "shown": True,
        "today": today,
        "totals": {
            "redemptions": sum(d.redemptions for d in days),
            "credits_redeemed": sum((Decimal(d.credits_redeemed) for d in days), Decimal("0.00")),
            "issues": sum(d.issues for d in days),
            "points_redeemed": sum((Decimal(d.points_redeemed) for d in days), Decimal("0.00")),
        },
        "charts": [{"title": title, **_bars(values, colour)} for title, values, colour in series],
        "first_day": days[0].day,
        "last_day": today.day,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "low_pools": pools_low_on_stock(user=user) if user.has_perm("coupons.view_couponpool") else [],
        "discrepancies": open_discrepancies(user=user),
        "now": timezone.now(),
    }
