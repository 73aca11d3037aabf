"""The API docs and the back office in a real browser with every other host unreachable: Swagger
UI is served by this service itself (drf-spectacular-sidecar) and lists the operations, and with
the Content-Security-Policy enforced the docs, the admin, the dashboard and the back-office pages
run without a single violation."""

from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from backoffice.scenario import scenario_load
from orgs.models import Customer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
HOST = "127.0.0.1"
# Every Content-Security-Policy violation of the page, whatever the element or directive.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.sourceFile + ":" + e.lineNumber;
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + where);
});
"""


@pytest.fixture
def offline(page):
    """The page with its network limited to 127.0.0.1: a request to any other host is aborted."""
    requested, blocked = [], []

    def only_here(route):
        requested.append(route.request.url)
        if urlsplit(route.request.url).hostname == HOST:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.add_init_script(RECORD_VIOLATIONS)
    page.requested, page.blocked = requested, blocked
    return page


def here(live_server) -> str:
    return f"http://{HOST}:{urlsplit(live_server.url).port}"


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_the_api_docs_list_every_operation_without_any_other_host(offline, live_server, settings):
    # given the Content-Security-Policy enforced
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY_CONFIG
    page = offline
    # when
    page.goto(f"{here(live_server)}/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
    page.steps.shot("api-docs")
    # then the operations are listed
    paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path || e.innerText)")
    for path in ("/v2_0/redeemrewards", "/v1.1/user/rewards/issue/", "/v1.1/points/validation_code"):
        assert any(path in shown for shown in paths), (path, paths)
    # and nothing came from, or was asked of, another host, nor does the page name one
    assert page.blocked == []
    assert {urlsplit(url).hostname for url in page.requested} == {HOST}
    referenced = page.eval_on_selector_all(
        "[src], link[href], script[src], img[src]", "els => els.map(e => e.src || e.href)"
    )
    assert referenced and {urlsplit(url).hostname for url in referenced} == {HOST}, referenced
    assert violations(page) == []


def test_the_admin_the_dashboard_and_back_office_pages_run_under_the_policy(
    offline, live_server, settings, demo_document
):
    settings.CONTENT_SECURITY_POLICY = settings.CONTENT_SECURITY_POLICY_CONFIG
    scenario_load(document=demo_document)
    User.objects.create_superuser("boss", "boss@example.com", "boss-password")
    customer = Customer.objects.get(org_id=4000876, external_id="ext_id98543198")
    page = offline
    base = here(live_server)
    # the login form, then the admin index with the dashboard
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "boss")
    page.fill("#id_password", "boss-password")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")
    page.steps.shot("dashboard")
    for name, path, ready in (
        ("customer-360", f"/admin/orgs/customer/{customer.pk}/360/", "#identifiers"),
        ("pool", "/admin/coupons/couponpool/234/change/", "#upload"),
        ("coupons", "/admin/coupons/coupon/", "#result_list"),
        ("upload", "/admin/coupons/couponpool/234/upload/", "#upload-form"),
    ):
        page.goto(base + path)
        page.wait_for_selector(ready)
        page.steps.shot(name)
        assert violations(page) == [], name
    # and an upload through that page (its inline script carries the policy's nonce) still works
    page.set_input_files("#id_file", files=[{"name": "c.csv", "mimeType": "text/csv", "buffer": b"code\nX-1\n"}])
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report")
    assert violations(page) == []
    assert page.blocked == []
