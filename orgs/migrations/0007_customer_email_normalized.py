"""Customers' emails in the one form they are looked up in: stripped and lower-cased (the model
normalises them on save from now on). An address that would then equal another customer's of the
same org is left as it is (both are), and named: staff merge or correct them by hand."""

from collections import defaultdict

from django.db import migrations


def normalise(apps, schema_editor):
    Customer = apps.get_model("orgs", "Customer")
    by_address = defaultdict(list)  # (org, normalised address) -> [(id, email as stored)]
    for pk, org_id, email in Customer.objects.exclude(email=None).values_list("id", "org_id", "email"):
        by_address[(org_id, email.strip().lower() or None)].append((pk, email))
    for (_, address), customers in by_address.items():
        changed = [(pk, email) for pk, email in customers if email != address]
        if not changed:
            continue
        if len(customers) > 1:  # two customers would share it: staff decide
            for pk, email in changed:
                print(f"\n  customer {pk}: {email!r} left as it is, another customer's email is {address!r} too")
            continue
        Customer.objects.filter(pk=changed[0][0]).update(email=address)


class Migration(migrations.Migration):
    dependencies = [("orgs", "0006_till_password_hex_shaped")]

    operations = [migrations.RunPython(normalise, migrations.RunPython.noop)]
