"""Coupon disbursal: all or none, never the same coupon twice, never waiting on a locked row."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coupons import sql
from coupons.errors import PoolExhausted
from coupons.models import Coupon, CouponPool
from coupons.services import coupons_bulk_add, coupons_disburse
from tests.factories import CustomerFactory, OrgFactory


def make_pool(size: int, **coupon_fields) -> CouponPool:
    org = OrgFactory()
    pool = CouponPool.objects.create(id=org.id, org=org, name="Pool")
    coupons_bulk_add(pool=pool, codes=[f"C-{n:04d}" for n in range(size)], **coupon_fields)
    return pool


@pytest.mark.django_db
class TestCouponsDisburse:
    def test_hands_out_the_oldest_available_coupons(self):
        pool = make_pool(3)
        customer = CustomerFactory(org=pool.org)
        coupons = coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk, count=2)
        assert [c.code for c in coupons] == ["C-0000", "C-0001"]
        stored = Coupon.objects.filter(holder=customer).order_by("id")
        assert [(c.code, c.status) for c in stored] == [("C-0000", "ISSUED"), ("C-0001", "ISSUED")]
        assert all(c.issued_at is not None for c in stored)

    def test_too_few_coupons_takes_none(self):
        pool = make_pool(2)
        customer = CustomerFactory(org=pool.org)
        with pytest.raises(PoolExhausted):
            coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk, count=3)
        assert Coupon.objects.filter(pool=pool, status="AVAILABLE").count() == 2

    def test_expired_coupons_are_skipped(self):
        pool = make_pool(1, expires_at=timezone.now() - timedelta(minutes=1))
        coupons_bulk_add(pool=pool, codes=["FRESH"], expires_at=timezone.now() + timedelta(days=1))
        customer = CustomerFactory(org=pool.org)
        [coupon] = coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk)
        assert coupon.code == "FRESH" and coupon.expires_at > timezone.now()
        with pytest.raises(PoolExhausted):
            coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk)

    def test_another_orgs_pool_is_not_reachable(self):
        pool = make_pool(1)
        stranger = CustomerFactory()
        with pytest.raises(PoolExhausted):
            coupons_disburse(pool_id=pool.pk, org_id=stranger.org_id, holder_id=stranger.pk)

    @pytest.mark.postgres
    def test_one_statement_locks_with_skip_locked_before_it_writes(self):
        pool = make_pool(1)
        customer = CustomerFactory(org=pool.org)
        with CaptureQueriesContext(connection) as queries:
            coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk)
        [statement] = [q["sql"] for q in queries if "coupons_coupon" in q["sql"]]
        assert statement.index("FOR UPDATE SKIP LOCKED") < statement.index("UPDATE coupons_coupon AS c SET")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_racing_customers_share_twenty_coupons_exactly():
    # given a pool of 20 and 40 customers released at once
    pool = make_pool(20)
    customers = [CustomerFactory(org=pool.org) for _ in range(40)]
    barrier = threading.Barrier(40)
    won, lost = [], []

    def race(customer):
        try:
            barrier.wait()
            won.extend(coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk))
        except PoolExhausted:
            lost.append(customer.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly 20 distinct coupons went to 20 distinct customers
    assert len(won) == 20 and len(lost) == 20
    assert len({c.code for c in won}) == 20 and len({c.holder_id for c in won}) == 20
    assert not Coupon.objects.filter(pool=pool, status="AVAILABLE").exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_next_coupon_comes_from_the_partial_index_even_on_fresh_statistics():
    # given a big pool whose first coupons are issued, a second pool, and fresh statistics
    pool = make_pool(3000)
    other = CouponPool.objects.create(id=pool.org_id + 1, org=pool.org, name="Other")
    coupons_bulk_add(pool=other, codes=[f"O-{n:05d}" for n in range(6000)])
    customer = CustomerFactory(org=pool.org)
    coupons_disburse(pool_id=pool.pk, org_id=pool.org_id, holder_id=customer.pk, count=2500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
        # when PostgreSQL plans the disbursal statement
        params = {"pool": pool.pk, "org": pool.org_id, "count": 1, "holder": customer.pk, "now": timezone.now()}
        cursor.execute("EXPLAIN " + sql.DISBURSE["postgresql"], params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then it walks the partial index of available coupons, never the primary key past the issued ones
    picking = plan[plan.index("CTE picked") : plan.index("InitPlan")]  # (the UPDATE then joins on the pkey)
    assert "Index Scan using coupon_available" in picking and "pkey" not in picking, plan
