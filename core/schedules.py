"""Default schedules of the periodic jobs, kept in django-celery-beat (staff see and change them
in the admin under "Periodic tasks"). Installed by migration ``orgs.0003_default_schedules`` and
by ``python manage.py setup_schedules``; an existing schedule of the same name is left as it is."""

from django.apps import apps as global_apps

EVERY_MINUTE = {"every": 60, "period": "seconds"}

DEFAULT_SCHEDULES = [
    {"name": "Reconciliation (nightly)", "task": "wallets.reconcile", "crontab": {"minute": "30", "hour": "2"}},
    {"name": "Outbox sweep", "task": "orgs.outbox_sweep", "interval": EVERY_MINUTE},
    {"name": "Vendor call recovery", "task": "catalogue.vendor_calls_recover", "interval": EVERY_MINUTE},
    {
        "name": "Coupon expiry and stock levels",
        "task": "coupons.expire_and_check_stock",
        "interval": {"every": 300, "period": "seconds"},
    },
    {"name": "Reward reviews and waiting coupons", "task": "wallets.rewards_review_release", "interval": EVERY_MINUTE},
    {"name": "Housekeeping", "task": "orgs.records_prune", "crontab": {"minute": "15", "hour": "3"}},
]


def schedules_install(*, apps=global_apps) -> list[str]:
    """Create the default periodic tasks that do not exist yet; returns the names created."""
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    created = []
    for spec in DEFAULT_SCHEDULES:
        if PeriodicTask.objects.filter(name=spec["name"]).exists():
            continue
        schedule = {}
        if "interval" in spec:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(**spec["interval"])
        else:
            fields = {"day_of_week": "*", "day_of_month": "*", "month_of_year": "*", "timezone": "UTC"}
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(**fields, **spec["crontab"])
        PeriodicTask.objects.create(name=spec["name"], task=spec["task"], **schedule)
        created.append(spec["name"])
    return created
