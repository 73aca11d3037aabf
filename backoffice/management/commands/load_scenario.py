import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator
from django.urls import reverse
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
        parser.add_argument(
            "--server-url",
            metavar="URL",
            help=(
                "Where this server is reached (e.g. http://127.0.0.1:8001): vendor rewards that call the "
                "sandbox vendor (/sandbox/vendor/issue, as the demo's do) call it there instead."
            ),
        )

    def handle(self, *args, path: Path, replace: bool, server_url: str | None = None, **options):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"{path}: cannot read: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: not valid JSON: {exc}") from exc
        if server_url:
            sandbox_vendor_point(document, server_url=server_url)
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


def sandbox_vendor_point(document, *, server_url: str) -> int:
    """Point the document's vendor rewards that call the sandbox vendor at ``server_url``; how many.

    The demo's vendor reward is written for the default address (127.0.0.1:8000): a server started
    elsewhere (``make run PORT=8001``) would otherwise call a port nobody serves. Anything that is
    not such a vendor URL is left for the loader to judge."""
    try:
        URLValidator(schemes=["http", "https"])(server_url)
    except ValidationError as exc:
        raise CommandError(f"--server-url: not an http(s) URL: {server_url!r}") from exc
    sandbox = reverse("sandbox-vendor-issue")
    pointed = 0
    orgs = document.get("orgs") if isinstance(document, dict) else None
    for org in orgs if isinstance(orgs, list) else []:
        rewards = org.get("catalogue") if isinstance(org, dict) else None
        for reward in rewards if isinstance(rewards, list) else []:
            vendor = reward.get("vendor") if isinstance(reward, dict) else None
            url = vendor.get("url") if isinstance(vendor, dict) else None
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is not None and parts.path == sandbox:
                vendor["url"] = server_url.rstrip("/") + sandbox + (f"?{parts.query}" if parts.query else "")
                pointed += 1
    return pointed
