"""Deleting an org and everything it owns (``load_scenario --replace``): the one place that knows
every tenant-owned table, so it sits above every app."""

from graphlib import TopologicalSorter

from django.apps import apps
from django.db import connection, transaction

from orgs.credentials import api_clients_changed
from orgs.models import ApiClient, Org, OrgConnection

# Tables an org does not own though they name it: the org itself and its links to other orgs.
_NOT_OWNED = {Org, OrgConnection}


def _org_owned_models():
    """Every tenant-owned model (a concrete model with an ``org`` foreign key, change history
    excepted), dependents first: the order deletes follow. Read from the models, so a new
    tenant table cannot be left out of the purge."""
    owned = [
        model
        for model in apps.get_models()
        if model not in _NOT_OWNED
        and not model._meta.proxy
        and not model.__name__.startswith("Historical")  # django-simple-history keeps its rows
        and any(field.name == "org" and field.is_relation for field in model._meta.concrete_fields)
    ]
    graph = TopologicalSorter()
    for model in owned:
        # a model comes after every owned model that points at it (a self reference is no edge)
        graph.add(model)
        for field in model._meta.concrete_fields:
            target = field.related_model if field.is_relation else None
            if target in owned and target is not model:
                graph.add(target, model)
    return list(graph.static_order())


@transaction.atomic
def org_purge(*, org_id: int) -> None:
    """Delete an org and everything it owns, ledger included (``load_scenario --replace``).

    The only path that may delete ledger entries: on PostgreSQL the append-only
    trigger lets them go while ``rewards.allow_ledger_purge`` is on, and it is
    switched off again before returning. Change history (django-simple-history)
    is kept.
    """
    # Raw deletes send no signals: the OAuth tokens of the org's API clients stop by this call.
    api_clients_changed(keys=set(ApiClient.objects.filter(org_id=org_id).values_list("key", flat=True)))
    with connection.cursor() as cursor:
        _allow_ledger_purge(cursor, True)
        # Set-based, dependents first: one DELETE per table, however many rows the org has
        # (the ORM's collector would load every id of a million-coupon pool).
        for model in _org_owned_models():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)} WHERE org_id = %s", [org_id])
        _allow_ledger_purge(cursor, False)
    OrgConnection.objects.filter(from_org_id=org_id).delete()
    OrgConnection.objects.filter(to_org_id=org_id).delete()
    Org.objects.filter(pk=org_id).delete()


def _allow_ledger_purge(cursor, allowed: bool) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"SET LOCAL rewards.allow_ledger_purge = '{'on' if allowed else 'off'}'")
