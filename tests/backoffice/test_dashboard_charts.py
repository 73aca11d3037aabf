"""The dashboard's charts: days and values labelled, an empty state where there is nothing to draw."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from .conftest import ASHA

pytestmark = pytest.mark.django_db


def figures(agent) -> list[str]:
    client = Client()
    client.force_login(agent)
    content = client.get(reverse("admin:index")).content.decode()
    return re.findall(r'<figure class="dashboard-figure".*?</figure>', content, flags=re.DOTALL)


def day(value) -> str:
    return f"{value:%b} {value.day}"


def texts(figure: str, kind: str) -> list[str]:
    return re.findall(rf'<text class="{kind}"[^>]*>([^<]*)</text>', figure)


def test_with_one_day_of_data_each_chart_labels_its_days_and_values(agent, redeem, issue_reward):
    # given one redemption (10.00) and one issued reward (100 points), today
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    issue_reward(353)
    today = timezone.localdate()
    # when
    redemptions, credits, issues, points = figures(agent)
    # then each chart has a date axis from 30 days ago to today, a value axis, and its bar's value
    for figure, top in ((redemptions, "1"), (credits, "10.00"), (issues, "1"), (points, "100.00")):
        assert 'class="dashboard-chart"' in figure and "dashboard-empty" not in figure
        dates = texts(figure, "date-label")
        assert dates[0] == day(today - timedelta(days=29)) and dates[-1] == day(today)
        assert len(dates) >= 4  # a label every week
        assert texts(figure, "value-label")[0] == "0" and texts(figure, "value-label")[-1] == top
        assert texts(figure, "bar-label") == [top]
        assert f"<title>{today:%Y-%m-%d}: {top}</title>" in figure
    assert texts(credits, "value-label") == ["0", "5.00", "10.00"]
    assert texts(redemptions, "value-label") == ["0", "1"]  # no half a redemption


def test_without_data_the_charts_say_so_instead_of_drawing(agent, demo):
    charts = figures(agent)
    assert len(charts) == 4
    first = day(timezone.localdate() - timedelta(days=29))
    for figure, sentence in zip(
        charts, ("No redemption", "No credits redeemed", "No reward issued", "No points redeemed"), strict=True
    ):
        assert "<rect" not in figure and "<svg" not in figure
        assert f'<p class="dashboard-empty">{sentence} from {first} to {day(timezone.localdate())}.</p>' in figure
