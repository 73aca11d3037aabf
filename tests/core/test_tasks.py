"""Tasks queued by name (``core.tasks``) are found in any process: a web process imports no
``tasks.py`` of its own accord, so the first look-up must have Celery discover them."""

import subprocess
import sys

from tests.test_project import ROOT, clean_env

FRESH_PROCESS = """
import sys
import django
django.setup()
from core.tasks import task_named
assert not [m for m in sys.modules if m.endswith(".tasks") and m.split(".")[0] in ("events", "wallets")], "imported"
names = sys.argv[1].split(",")
print(",".join(task_named(name).name for name in names))
"""


NAMES = "orgs.events_dispatch,orgs.delivery_send,wallets.reconcile,catalogue.vendor_calls_recover"


def test_a_task_is_found_by_name_in_a_process_that_imported_no_tasks_module():
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, NAMES],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="rewards_site.settings"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        done.stdout.strip()
        == "orgs.events_dispatch,orgs.delivery_send,wallets.reconcile,catalogue.vendor_calls_recover"
    )
