"""``python manage.py reconcile``: run every reconciliation check now, print the open findings
and a total; exit status 1 while any finding is open (for cron, CI or a health check)."""

import sys

from django.core.management.base import BaseCommand

from wallets.reconciliation import reconciliation_run


class Command(BaseCommand):
    help = "Run every reconciliation check now; print each open finding and a total (exit 1 if any)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="Ids per batch (RECONCILE_BATCH_SIZE).")

    def handle(self, *args, batch_size=None, **options):
        result = reconciliation_run(batch_size=batch_size)
        for finding in result.open_findings:
            org = f"org {finding.org_id} " if finding.org_id else ""
            self.stdout.write(
                f"{finding.check_name} {org}{finding.subject}: expected {finding.expected}, found {finding.found}"
                + (f" ({finding.detail})" if finding.detail else "")
                + f" - first seen {finding.first_seen:%Y-%m-%d %H:%M:%S}"
            )
        run = result.run
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"{len(result.open_findings)} open finding(s) ({run.new_findings} new, {run.resolved} resolved); "
            f"{run.wallets_checked} wallets, {run.batches} batches, {seconds:.1f} s"
        )
        if result.open_findings:
            sys.exit(1)
