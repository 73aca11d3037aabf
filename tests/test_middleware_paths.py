"""The browser middleware is skipped on the vendor API paths and kept everywhere else."""

import pytest

from rewards_site.middleware import is_vendor_path


@pytest.mark.parametrize(
    "path",
    [
        "/v2_0/redeemrewards",
        "/v2_0/getuserbalance/",
        "/v1.1/user/rewards/issue/",
        "/v1.1/points/redeem",
        "/v2/points/reverse",
        "/v1/user/reward/revoke",
        "/v3/oauth/token/generate",
        "/api_gateway/rewards/core/v1.1/user/rewards",
    ],
)
def test_vendor_paths_are_recognised(path):
    assert is_vendor_path(path)


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/login/", "/api/docs/", "/api/schema/", "/healthz", "/backoffice/", "/v2_0x/", "/vx/"]
)
def test_browser_paths_are_not(path):
    assert not is_vendor_path(path)


@pytest.mark.django_db
def test_a_vendor_answer_sets_no_cookie_and_no_page_headers(client):
    answer = client.post("/v2_0/getuserbalance", data=b"{}", content_type="application/json")
    assert answer.status_code == 401
    assert answer.json()["statuscode"] == 101
    assert "X-Frame-Options" not in answer
    assert not answer.cookies


@pytest.mark.django_db
def test_the_admin_keeps_its_session_csrf_and_frame_headers(client, admin_user):
    page = client.get("/admin/login/")
    assert page["X-Frame-Options"] == "DENY"
    assert "csrftoken" in page.cookies
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200
