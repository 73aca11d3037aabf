"""Writes to orgs: customers and their notes."""

from core.errors import OperationRefused

from .models import Customer, CustomerNote


def customer_note_add(*, customer_id: int, text: str, staff_user):
    """A note by staff on a customer (support agents may add them; they change nothing else)."""
    text = (text or "").strip()
    if not text:
        raise OperationRefused("a note needs some text")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise OperationRefused(f"no customer {customer_id}")
    return CustomerNote.objects.create(
        org_id=customer.org_id,
        customer=customer,
        text=text[:5000],
        author=staff_user,
        author_username=staff_user.get_username(),
    )
