"""JSON Schema of a scenario file (docs/contracts/scenario.md).

The shape is checked by ``jsonschema``; references between parts of the file
(a reward's campaign, a pool's campaign, ...) are checked by ``backoffice.scenario``.
``x-error`` replaces jsonschema's message for a failed ``pattern``.
"""

from core.numbers import BIGINT_MAX

MONEY = {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "x-error": "not a decimal string like '12.50'"}
POSITIVE_MONEY = {**MONEY, "not": {"pattern": r"^0+(\.0+)?$"}, "x-error": "not a positive decimal string like '12.50'"}
RATIO = {"type": "string", "pattern": r"^\d{1,6}(\.\d{1,6})?$", "x-error": "not a decimal ratio like '0.5'"}
POSITIVE_RATIO = {**RATIO, "not": {"pattern": r"^0+(\.0+)?$"}, "x-error": "not a positive ratio like '0.25'"}
TIME = {"type": ["string", "null"], "minLength": 1}
ID = {"type": "integer", "minimum": 1, "maximum": BIGINT_MAX}
NAME = {"type": "string", "minLength": 1, "maxLength": 100}
NAMES = {"type": "array", "items": NAME}
CODE = {"type": "string", "minLength": 1, "maxLength": 64}


def _object(properties: dict, required: tuple = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


CUSTOMER = _object(
    {
        "external_id": {"type": "string", "minLength": 1, "maxLength": 150},
        "user_key": {"type": "string", "format": "uuid"},
        "email": {
            "type": ["string", "null"],
            "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            "maxLength": 254,
            "x-error": "not an email address",
        },
        "mobile": {"type": ["string", "null"], "pattern": r"^\+?\d{6,15}$", "x-error": "not a phone number"},
        "segments": NAMES,
        "cards": {
            "type": "array",
            "items": _object(
                {"number": CODE | {"maxLength": 100}, "status": {"enum": ["ACTIVE", "INACTIVE"]}}, ("number",)
            ),
        },
        "points": MONEY,
        "credits": MONEY,
        "blocked": {"type": "boolean"},
        "name": {"type": "string", "maxLength": 200},
        "registered_at": {"type": "string", "minLength": 1},
        "referral_code": {"type": "string", "pattern": r"^[A-Za-z0-9]{8}$", "x-error": "not 8 characters A-Z0-9"},
        "referrer": {"type": "string", "minLength": 1},
    },
    ("external_id",),
)

PERCENT = {"type": "string", "pattern": r"^\d{1,3}(\.\d{1,2})?$", "x-error": "not a percentage like '10' or '2.5'"}
RULE_SIDE = {
    "oneOf": [
        {"type": "null"},
        _object({"amount": POSITIVE_MONEY}, ("amount",)),
        _object({"percent": PERCENT, "max": POSITIVE_MONEY}, ("percent",)),
        _object({"coupon": {"const": True}}, ("coupon",)),
    ]
}
RULE = _object(
    {
        "event": {"type": "string", "minLength": 1, "maxLength": 100},
        "referrer": RULE_SIDE,
        "friend": RULE_SIDE,
        "user": RULE_SIDE,
        "per_user": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "review_days": {"type": "integer", "minimum": 0, "maximum": 3650},
        "active": {"type": "boolean"},
    },
    ("event",),
)

GROUP = _object(
    {
        "id": ID,
        "external_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 150},
        "primary": {"type": "string", "minLength": 1},
        "members": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "points": MONEY,
    },
    ("id", "primary"),
)

CAMPAIGN = _object(
    {
        "id": NAME,
        "name": {"type": "string", "maxLength": 200},
        "growth_hack": {"enum": ["Word_of_Mouth", "Loyalty_Program"]},
        "reward_type": {"enum": ["WALLET", "COUPONS"]},
        "coupon_distribution": {"enum": ["BY_ORDER", "BY_EVENT", "USER_WILL_CHOOSE", None]},
        "active": {"type": "boolean"},
        "ends_at": TIME,
        "eligible_segment": {"type": ["string", "null"]},
        "reward_unit": {"type": "string", "minLength": 1, "maxLength": 32},
        "rules": {"type": "array", "items": RULE},
    },
    ("id", "growth_hack", "reward_type"),
)

EARNED_REWARD = _object(
    {
        "id": {"type": ["string", "integer"], "minLength": 1, "maxLength": 100},
        "campaign": {"type": "string"},
        "customer": {"type": "string"},
        "amount": POSITIVE_MONEY,
        "status": {"enum": ["UNREDEEMED", "REDEEMED", "UNDER_REVIEW", "APPROVED", "REJECTED", "SUSPICIOUS"]},
        "earned_at": {"type": "string", "minLength": 1},
        "review_until": {"type": "string", "minLength": 1},
    },
    ("id", "campaign", "customer"),
)

COUPON_POOL = _object(
    {
        "id": ID,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "campaign": {"type": ["string", "null"]},
        "low_stock_threshold": {"type": "integer", "minimum": 0},
        "details": {"type": "string", "maxLength": 2000},
        "image": {"type": "string", "pattern": r"^https?://\S+$", "maxLength": 500, "x-error": "not an http(s) URL"},
        "value": MONEY,
        "unit": {"type": "string", "maxLength": 32},
        "description": {"type": "string", "maxLength": 500},
        "discount_type": {"enum": ["ABS", "PERC"]},
        "discount_value": MONEY,
        "coupons": {
            "type": "array",
            "items": _object({"code": CODE, "expires_at": TIME}, ("code",)),
        },
        "generate": _object(
            {
                "count": {"type": "integer", "minimum": 0, "maximum": 50_000_000},
                "prefix": {"type": "string", "maxLength": 32},
                "length": {"type": "integer", "minimum": 4, "maximum": 32},
                "expires_at": TIME,
            },
            ("count",),
        ),
    },
    ("id", "name"),
)

PROMOTION = _object(
    {
        "id": NAME,
        "active": {"type": "boolean"},
        "max_per_customer": {"type": ["integer", "null"], "minimum": 1},
    },
    ("id",),
)

PAYMENT_CONFIG = _object(
    {
        "id": ID,
        "mode": {"enum": ["POINTS", "CONV_RATIO"]},
        "points": POSITIVE_MONEY,
        "conversion_ratio": RATIO,
    },
    ("id", "mode"),
)

VENDOR = _object(
    {
        "name": {"type": "string", "maxLength": 100},
        "url": {"type": "string", "pattern": r"^https?://\S+$", "maxLength": 500, "x-error": "not an http(s) URL"},
        "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 120_000},
        "context_map": {
            "type": "object",
            "properties": {"voucher": {"type": "string", "minLength": 1}},
            "required": ["voucher"],
            "additionalProperties": {"type": "string", "minLength": 1},
        },
    },
    ("url", "context_map"),
)

CATALOGUE_REWARD = _object(
    {
        "id": ID,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "type": {"enum": ["COUPON", "CART_PROMOTION", "VENDOR", "POINTS_ONLY"]},
        "redemption_type": {"type": "string", "minLength": 1, "maxLength": 20},
        "segments": NAMES,
        "enabled": {"type": "boolean"},
        "starts_at": TIME,
        "ends_at": TIME,
        "payment_configs": {"type": "array", "items": PAYMENT_CONFIG, "minItems": 1},
        "coupon_pool": {"type": ["integer", "null"]},
        "promotion": {"type": ["string", "null"]},
        "vendor": {"oneOf": [VENDOR, {"type": "null"}]},
    },
    ("id", "name", "type", "payment_configs"),
)

ORG = _object(
    {
        "id": ID,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "connected_orgs": {"type": "array", "items": ID},
        "revoke_enabled": {"type": "boolean"},
        "points_currency_ratio": POSITIVE_RATIO,
        "appvirality": _object(
            {
                "apikey": {"type": "string", "minLength": 8, "maxLength": 128},
                "privatekey": {"type": "string", "minLength": 8},
            },
            ("apikey", "privatekey"),
        ),
        "tills": {
            "type": "array",
            "items": _object(
                {
                    "username": {"type": "string", "minLength": 1, "maxLength": 150},
                    "password": {"type": "string", "minLength": 1},
                },
                ("username", "password"),
            ),
        },
        "api_clients": {
            "type": "array",
            "items": _object(
                {
                    "key": {"type": "string", "minLength": 8, "maxLength": 128},
                    "secret": {"type": "string", "minLength": 8},
                },
                ("key", "secret"),
            ),
        },
        "segments": NAMES,
        "custom_fields": NAMES,
        "fulfillment_statuses": NAMES,
        "customers": {"type": "array", "items": CUSTOMER},
        "groups": {"type": "array", "items": GROUP},
        "campaigns": {"type": "array", "items": CAMPAIGN},
        "earned_rewards": {"type": "array", "items": EARNED_REWARD},
        "coupon_pools": {"type": "array", "items": COUPON_POOL},
        "promotions": {"type": "array", "items": PROMOTION},
        "catalogue": {"type": "array", "items": CATALOGUE_REWARD},
        "webhooks": {
            "type": "array",
            "items": _object(
                {
                    "url": {
                        "type": "string",
                        "pattern": r"^https?://\S+$",
                        "maxLength": 500,
                        "x-error": "not an http(s) URL",
                    },
                    "secret": {"type": "string", "minLength": 1, "maxLength": 200},
                    "format": {"enum": ["native", "appvirality"]},
                    "securekey": {"type": "string", "maxLength": 200},
                    "kinds": {"type": "array", "items": {"type": "string"}},
                },
                ("url", "secret"),
            ),
        },
    },
    ("id", "name"),
)

SCENARIO_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"orgs": {"type": "array", "items": ORG}},
    "required": ["orgs"],
    "additionalProperties": False,
}
