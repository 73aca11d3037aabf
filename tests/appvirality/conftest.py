import json

import pytest

KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
O2 = 4000876
ASHA, RAVI, MEENA = "ext_id98543198", "ext-ravi", "ext-meena"
ASHA_KEY = "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11"


@pytest.fixture
def av(client, demo):
    """POST an AppVirality call with the demo app's credentials: (HTTP status, body)."""

    def post(verb: str, body: dict | None = None, *, raw: bytes | None = None, keys: dict | None = None):
        data = raw if raw is not None else json.dumps({**(KEYS if keys is None else keys), **(body or {})})
        response = client.post(f"/v2_0/{verb}", data=data, content_type="application/json")
        return response.status_code, response.json()

    return post
