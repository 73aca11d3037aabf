"""The two staff roles, as Django groups with model permissions.

*Support agent*: sees everything, searches, opens Customer 360, adds notes on customers; moves no
money and changes no configuration. *Rewards manager*: manages coupon pools, the catalogue and
campaigns, reverses redemptions, revokes issued rewards and adjusts balances.

``roles_setup`` is idempotent: it sets each group's permissions to exactly these (run by the
data migration ``orgs.0005_roles`` and by ``manage.py setup_roles``).
"""

from django.apps import apps as global_apps

SUPPORT_AGENT = "Support agent"
REWARDS_MANAGER = "Rewards manager"

DOMAIN_APPS = ("orgs", "wallets", "coupons", "catalogue")

_SUPPORT_EXTRA = ["orgs.add_customernote"]

# Configuration a rewards manager edits (add, change, delete).
_MANAGED_MODELS = [
    "orgs.campaign",
    "coupons.couponpool",
    "coupons.coupon",
    "catalogue.cataloguereward",
    "catalogue.paymentconfig",
    "catalogue.promotion",
    "catalogue.rewardsegment",
    "wallets.campaignrule",
]
_MANAGER_EXTRA = [
    "orgs.add_customernote",
    "wallets.reverse_redemption",
    "wallets.adjust_wallet",
    "catalogue.revoke_rewardissue",
    "catalogue.change_vendorexception",
    "coupons.manage_stock",
    "coupons.export_coupons",
    "wallets.review_earnedreward",
]


def role_permissions(apps=global_apps) -> dict[str, set[tuple[str, str]]]:
    """Each role's permissions as ``(app_label, codename)`` pairs."""
    view_all = set()
    for label in DOMAIN_APPS:
        for model in apps.get_app_config(label).get_models():
            view_all.add((label, f"view_{model._meta.model_name}"))
    managed = {
        (label, f"{action}_{model}")
        for label, model in (name.split(".") for name in _MANAGED_MODELS)
        for action in ("add", "change", "delete")
    }
    return {
        SUPPORT_AGENT: view_all | {tuple(name.split(".")) for name in _SUPPORT_EXTRA},
        REWARDS_MANAGER: view_all | managed | {tuple(name.split(".")) for name in _MANAGER_EXTRA},
    }


def roles_setup(*, apps=global_apps) -> dict[str, int]:
    """Create (or bring up to date) the role groups; returns the number of permissions of each."""
    from django.contrib.auth.management import create_permissions

    for label in DOMAIN_APPS:  # permissions are made after migrate: make sure they exist here already
        config = apps.get_app_config(label)
        config.models_module = getattr(config, "models_module", None) or True
        create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    counts = {}
    for role, wanted in role_permissions(apps).items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = [
            permission
            for permission in Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS).select_related(
                "content_type"
            )
            if (permission.content_type.app_label, permission.codename) in wanted
        ]
        missing = wanted - {(p.content_type.app_label, p.codename) for p in permissions}
        if missing and apps is global_apps:  # a migration's state may predate later models: the later one adds them
            raise LookupError(f"{role}: unknown permissions {sorted(missing)}")
        group.permissions.set(permissions)
        counts[role] = len(permissions)
    return counts
