"""``{% backoffice_dashboard %}``: the figures of the admin index, with a server-rendered SVG chart
per series: bars per day on a labelled value axis and date axis, or a sentence when there is nothing
to draw (no JavaScript, no external library)."""

from decimal import Decimal

from django import template
from django.utils import timezone

from backoffice.selectors import dashboard_figures, open_discrepancies, pools_low_on_stock

register = template.Library()

CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 600, 150, 2
# The plot area inside the chart: value labels on the left, dates below, a bar's value above it.
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 52, 566, 16, 124
DATE_EVERY = 7  # a date label every week, and on the last day
VALUES_SHOWN_UP_TO = 10  # bars labelled with their value while there are at most this many


def _day(day) -> str:
    return f"{day:%b} {day.day}"


def _chart(title: str, days: list, values: list, colour: str, empty: str) -> dict:
    """Geometry and labels of one series (``values`` per day of ``days``)."""
    numbers = [Decimal(v) for v in values]
    top = max(numbers, default=Decimal(0))
    chart = {"title": title, "colour": colour, "top": top, "first_day": days[0], "last_day": days[-1]}
    if not top:
        return {**chart, "empty": empty}
    slot = (PLOT_RIGHT - PLOT_LEFT) / len(values)
    height = PLOT_BOTTOM - PLOT_TOP
    drawn = sum(1 for n in numbers if n)
    bars, dates = [], []
    for index, (day, value, number) in enumerate(zip(days, values, numbers, strict=True)):
        h = float(number / top) * height
        x = PLOT_LEFT + index * slot
        bars.append(
            {
                "x": round(x, 1),
                "y": round(PLOT_BOTTOM - h, 1),
                "w": round(max(slot - BAR_GAP, 1), 1),
                "h": round(h, 1),
                "centre": round(x + slot / 2, 1),
                "value": value,
                "day": day,
                "label": value if number and drawn <= VALUES_SHOWN_UP_TO else None,
            }
        )
        last = index == len(values) - 1
        if last or (index % DATE_EVERY == 0 and len(values) - 1 - index >= DATE_EVERY // 2):
            dates.append({"x": round(x + slot / 2, 1), "text": _day(day)})
    ticks = [{"y": PLOT_BOTTOM, "text": 0}, {"y": PLOT_TOP, "text": values[numbers.index(top)]}]
    if isinstance(values[0], Decimal) or top % 2 == 0:  # a count's middle line only where it is whole
        middle = (top / 2).quantize(Decimal("0.01")) if isinstance(values[0], Decimal) else int(top / 2)
        ticks.insert(1, {"y": round(PLOT_BOTTOM - height / 2, 1), "text": middle})
    return {**chart, "bars": bars, "dates": dates, "ticks": ticks}


@register.inclusion_tag("admin/backoffice/dashboard.html", takes_context=True)
def backoffice_dashboard(context):
    request = context["request"]
    user = request.user
    if not (user.has_perm("wallets.view_redemptioncall") and user.has_perm("catalogue.view_rewardissue")):
        return {"shown": False}
    days = dashboard_figures(user=user)
    today = days[-1]
    dates = [d.day for d in days]
    series = [
        ("Redemptions", [d.redemptions for d in days], "#417690", "No redemption"),
        ("Credits redeemed", [d.credits_redeemed for d in days], "#79aec8", "No credits redeemed"),
        ("Issued rewards", [d.issues for d in days], "#c2743d", "No reward issued"),
        ("Points redeemed", [d.points_redeemed for d in days], "#ba2121", "No points redeemed"),
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
        "charts": [
            _chart(title, dates, values, colour, f"{empty} from {_day(dates[0])} to {_day(dates[-1])}.")
            for title, values, colour, empty in series
        ],
        "first_day": days[0].day,
        "last_day": today.day,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": PLOT_LEFT, "right": PLOT_RIGHT, "top": PLOT_TOP, "bottom": PLOT_BOTTOM},
        "low_pools": pools_low_on_stock(user=user) if user.has_perm("coupons.view_couponpool") else [],
        "discrepancies": open_discrepancies(user=user),
        "now": timezone.now(),
    }
