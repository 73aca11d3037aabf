"""A Celery app for worker subprocesses of the crash tests: the project's app, with the seams of
production code replaced in each worker process as the environment asks (``TEST_*`` variables are
read here, never by production code).

``celery -A tests.worker_hooks worker``:

* ``TEST_RECONCILE_BATCH_PAUSE=<seconds>``: the reconciliation pauses after each batch, so that a
  test can kill a run mid-way (``wallets.reconciliation.after_batch``).
"""

import os
import time

from celery.signals import worker_process_init

from rewards_site.celery import app

__all__ = ["app"]


@worker_process_init.connect
def _replace_seams(**_):
    pause = os.environ.get("TEST_RECONCILE_BATCH_PAUSE")
    if pause:
        from wallets import reconciliation

        reconciliation.after_batch = lambda: time.sleep(float(pause))
