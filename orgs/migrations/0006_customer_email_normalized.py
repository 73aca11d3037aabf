"""Customers' emails in the one form they are looked up in: stripped and lower-cased (the model
normalises them on save from now on). An address that would then equal another customer's of the
same org is left as it is, and named: staff merge or correct those two by hand."""

from django.db import migrations


def normalise(apps, schema_editor):
    Customer = apps.get_model("orgs", "Customer")
    taken = set(Customer.objects.exclude(email=None).values_list("org_id", "email"))
    for customer in Customer.objects.exclude(email=None).only("id", "org_id", "email").iterator():
        email = customer.email.strip().lower() or None
        if email == customer.email:
            continue
        if email is not None and (customer.org_id, email) in taken:
            print(f"\n  customer {customer.pk}: {customer.email!r} left as it is, another has {email!r}")
            continue
        Customer.objects.filter(pk=customer.pk).update(email=email)
        taken.discard((customer.org_id, customer.email))
        if email is not None:
            taken.add((customer.org_id, email))


class Migration(migrations.Migration):
    dependencies = [("orgs", "0005_roles")]

    operations = [migrations.RunPython(normalise, migrations.RunPython.noop)]
