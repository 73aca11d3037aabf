"""factory_boy factories for the domain models. Balances only through wallet_post."""

from decimal import Decimal

import factory

from orgs.models import Customer, Org
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post


class OrgFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Org
        django_get_or_create = ("id",)

    id = factory.Sequence(lambda n: 5_000_000 + n)
    name = factory.Sequence(lambda n: f"Org {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    org = factory.SubFactory(OrgFactory)
    external_id = factory.Sequence(lambda n: f"ext-{n}")
    email = factory.LazyAttribute(lambda c: f"{c.external_id}@example.com")
    mobile = factory.Sequence(lambda n: f"91990{n:07d}")


class WalletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Wallet
        skip_postgeneration_save = True

    customer = factory.SubFactory(CustomerFactory)
    org = factory.SelfAttribute("customer.org")
    kind = Wallet.Kind.POINTS

    @factory.post_generation
    def opening(wallet, create, extracted, **kwargs):
        """``WalletFactory(opening="100.00")`` posts an opening balance through the ledger."""
        if create and extracted:
            wallet_post(wallet=wallet, delta=Decimal(extracted), kind=LedgerEntry.Kind.OPENING, reference="test")
