import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from backoffice.scenario import ScenarioError, scenario_load

PROGRESS_FROM = 10_000


class Command(BaseCommand):
    help = (
        "Load a scenario file (orgs, credentials, customers, wallets, campaigns, pools, catalogue) in one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the orgs the file names (with all they own) and load them afresh.",
        )

    def handle(self, *args, path: Path, replace: bool, **options):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"{path}: cannot read: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: not valid JSON: {exc}") from exc
        bars: list[tqdm] = []

        def progress(label: str, total: int):
            if total < PROGRESS_FROM:
                return None
            bar = tqdm(total=total, desc=f"Coupons of {label}", unit="code", unit_scale=True, file=self.stderr._out)
            bars.append(bar)
            return bar.update

        started = time.monotonic()
        try:
            report = scenario_load(document=document, replace=replace, progress=progress)
        except ScenarioError as exc:
            raise CommandError(
                f"{path}: nothing loaded, {len(exc.problems)} problem(s):\n" + "\n".join(exc.problems)
            ) from exc
        finally:
            for bar in bars:
                bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {path}: {report.orgs} org(s), {report.customers} customer(s), "
                f"{report.earned_rewards} earned reward(s), {report.coupons} coupon(s), "
                f"{report.catalogue_rewards} catalogue reward(s), {report.ledger_entries} ledger entr(y/ies) "
                f"in {time.monotonic() - started:.1f}s."
            )
        )
