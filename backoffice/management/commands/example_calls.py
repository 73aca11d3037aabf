from django.core.management.base import BaseCommand

from capillary.examples import TILL_EXAMPLES

EXAMPLES = """
Rewards engine demo at {base}
  Admin (demo superuser admin / admin):  {base}/admin/
  OpenAPI schema:                        {base}/api/schema/
  Swagger UI:                            {base}/api/docs/

  curl -s {base}/healthz
  curl -s {base}/api/schema/ | head

Redeem Rewards (AppVirality-compatible), app demo-o2-apikey:
  # by amount: 12.50 from Asha's referral rewards, oldest first
  curl -s -H 'Content-Type: application/json' {base}/v2_0/redeemrewards \\
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "UserIdInstore": "ext_id98543198", "amount": "12.50"}}'
  # by reward ids, with an Idempotency-Key (send it twice: the same answer, one credit)
  curl -s -H 'Content-Type: application/json' -H 'Idempotency-Key: order-1003' {base}/v2_0/redeemrewards \\
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "EmailId": "ravi@example.com", "rewarddtlids": ["rd-1003"]}}'
  # by coupon pool: one coupon of pool 531
  curl -s -H 'Content-Type: application/json' {base}/v2_0/redeemrewards \\
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "userkey": "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11", "poolId": 531}}'

The rest of the AppVirality API (same app; the verb is case-insensitive, a trailing slash is fine):
  # a new user registered with Asha's referral code (ASHA2026): answers its userkey and own referralcode
  curl -s -H 'Content-Type: application/json' {base}/v2_0/updateuserinfo \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "UserIdInstore": "ext-kiran", "EmailId": "kiran@example.com", "name": "Kiran", "referrercode": "ASHA2026"}}'
  # a Signup: Asha (the referrer) earns 5.00, Kiran (the friend) 2.50; send it twice: the same answer, once
  curl -s -H 'Content-Type: application/json' {base}/v2_0/registerconversionevent \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "UserIdInstore": "ext-kiran", "eventName": "Signup", "tskey": "signup-kiran"}}'
  # a Transaction of 123.45: 10 % for Asha (12.35), 5 % for Kiran (6.17), 2 % cashback (2.47, under review 7 days)
  curl -s -H 'Content-Type: application/json' {base}/v2_0/registerconversionevent \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey",
         "UserIdInstore": "ext-kiran", "eventName": "Transaction", "transactionValue": "123.45", "tskey": "order-1"}}'
  # Asha's balance, then a redemption of 10.00 (Redeem Rewards), then the balance again
  curl -s -H 'Content-Type: application/json' {base}/v2_0/getuserbalance \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "UserIdInstore": "ext_id98543198"}}'
  curl -s -H 'Content-Type: application/json' {base}/v2_0/redeemrewards \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "UserIdInstore": "ext_id98543198",
         "amount": "10.00"}}'
  curl -s -H 'Content-Type: application/json' {base}/v2_0/GetUserBalance/ \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "UserIdInstore": "ext_id98543198"}}'
  # coupons held, the pools Asha may choose from, her friends
  curl -s -H 'Content-Type: application/json' {base}/v2_0/getusercoupons \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "EmailId": "asha@example.com"}}'
  curl -s -H 'Content-Type: application/json' {base}/v2_0/getcouponpools \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "EmailId": "asha@example.com"}}'
  curl -s -H 'Content-Type: application/json' {base}/v2_0/getfriendslist \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "EmailId": "asha@example.com",
         "pageIndex": 1, "pageSize": 20}}'
  # a reward's status, then the shop's fraud check: reject one, approve another (all or nothing)
  curl -s -H 'Content-Type: application/json' {base}/v2_0/checkrewardstatus \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "rewarddtlid": "rd-1002"}}'
  curl -s -H 'Content-Type: application/json' {base}/v2_0/changerewardstatus \
    -d '{{"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey", "rewardslist": [
         {{"rewarddtlid": "rd-1002", "reward_status": "Suspicious", "comment": "same card as the referrer"}},
         {{"rewarddtlid": "rd-1003", "reward_status": "Approved"}}]}}'

Issue Reward (Capillary-compatible), till o2.till of org 4000876 (connected to 4004543):
  # one reward, Basic auth with md5_hex(password) as Capillary clients send it
  curl -s -u "o2.till:$(printf %s o2-till-password | md5sum | cut -d' ' -f1)" -H 'Content-Type: application/json' \\
    '{base}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"externalId": "ext_id98543198", "rewards": [{{"rewardId": 353, "requestId": "demo-1"}}]}}'
  # Capillary's own sample: a vendor reward (the sandbox vendor answers), 1 value at ratio 0.5 = 2 points
  curl -s -u o2.till:o2-till-password -H 'Content-Type: application/json' \\
    '{base}/api_gateway/rewards/core/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"brand": "O2Brand", "transactionNumber": "123456789", "orgLevelDetails": [{{"orgId": 4000876}}],
         "rewards": [{{"rewardId": 350, "quantity": 1, "orgId": 4000876, "paymentConfig": {{"redemptionValue": 1}}}}],
         "externalId": "ext_id98543198"}}'
  # bulk: a coupon, a cart promotion and a reward of the connected org 4004543, with an OAuth token
  TOKEN=$(curl -s -H 'Content-Type: application/json' {base}/v3/oauth/token/generate \\
    -d '{{"key": "demo-o2-oauth-key", "secret": "demo-o2-oauth-secret"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])')
  curl -s -H "X-CAP-API-OAUTH-TOKEN: $TOKEN" -H 'DATA-SCOPE: OTHER' -H 'DATA-SCOPE-ORG: 4000876,4004543' \\
    -H 'Content-Type: application/json' '{base}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"externalId": "ext_id98543198", "rewards": [{{"rewardId": 351, "orgId": 4000876}},
         {{"rewardId": 352, "orgId": 4000876}},
         {{"rewardId": 900, "orgId": 4004543, "paymentConfig": {{"id": 90, "redemptionValue": 3}}}}]}}'
  # group loyalty: Ravi pays from family group 77's points
  curl -s -u o2.till:o2-till-password -H 'Content-Type: application/json' \\
    '{base}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"externalId": "ext-ravi", "user_group2_id": 77, "rewards": [{{"rewardId": 351}}]}}'
  # without skip_validation: get a validation code first, then spend it once
  curl -s -u o2.till:o2-till-password -H 'Content-Type: application/json' \\
    '{base}/v1.1/points/validation_code?username=o2.till' -d '{{"externalId": "ext_id98543198"}}'
"""


class Command(BaseCommand):
    help = "Print example calls against a running server."

    def add_arguments(self, parser):
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args, base: str, **options):
        self.stdout.write((EXAMPLES + TILL_EXAMPLES).format(base=base.rstrip("/")))
