"""Example calls of the till, catalogue, revoke and fulfilment routes against the demo scenario
(printed by ``python manage.py example_calls`` and ``make run``; the README shows the same)."""

TILL_EXAMPLES = """
Capillary at the till, catalogue reads, revoke and fulfilment (till o2.till; org 4000876: a point is worth 0.25,
revoke enabled):
  CAP="curl -s -u o2.till:o2-till-password -H Content-Type:application/json"
  # points: can Asha redeem 30? then redeem them (transaction_number is the idempotency key), then reverse 10
  $CAP '{base}/v1.1/points/isredeemable?username=o2.till&mobile=919900000001&points=30&skip_validation=true&format=json'
  RID=$($CAP '{base}/v1.1/points/redeem?username=o2.till&skip_validation=true' \\
    -d '{{"root": {{"redeem": [{{"points_redeemed": "30", "transaction_number": "bill-1001",
         "customer": {{"mobile": "919900000001"}}}}]}}}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"]["responses"]["points"]["redemption_id"])')
  $CAP '{base}/v2/points/reverse?username=o2.till' \\
    -d '{{"redemptionId": "'$RID'", "pointsToBeReversed": "10",
         "identifier": {{"type": "mobile", "value": "919900000001"}}}}'
  # a group redemption: Ravi spends family group 77's points
  $CAP '{base}/v1.1/points/redeem?username=o2.till&skip_validation=true' \\
    -d '{{"root": {{"redeem": {{"points_redeemed": 50, "transaction_number": "bill-1002", "group_redemption": true,
         "user_group2_id": 77, "customer": {{"external_id": "ext-ravi"}}}}}}}}'
  # with a validation code (Capillary's documented path; /v1.1/points/validation_code is the same)
  $CAP '{base}/v1.1/points/validationcode?username=o2.till&mobile=919900000001'
  # coupons: issue one (reward 351), check it with its series, redeem it at checkout
  CODE=$($CAP '{base}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"mobile": "919900000001", "rewards": [{{"rewardId": 351}}]}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["rewards"][0]["intouch"]["couponCode"])')
  $CAP "{base}/v1.1/coupon/isredeemable?username=o2.till&code=$CODE&mobile=919900000001&details=extended"
  $CAP '{base}/v1.1/coupon/redeem?username=o2.till' \\
    -d '{{"root": {{"coupon": [{{"code": "'$CODE'", "customer": {{"mobile": "919900000001"}},
         "transaction": {{"number": "bill-2001", "amount": "450.00"}}}}]}}}}'
  # catalogue: what Asha can be issued now, one reward, her issue records newest first
  $CAP '{base}/v1.1/user/rewards?username=o2.till&mobile=919900000001&page=0&size=10'
  $CAP '{base}/api_gateway/rewards/core/v1.1/user/rewards/352?username=o2.till&mobile=919900000001'
  $CAP '{base}/v1.1/reward-transactions?username=o2.till&mobile=919900000001&size=5'
  # revoke an issue (its points back, its coupons voided; again: the same answer, no second refund)
  TXN=$($CAP '{base}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true' \\
    -d '{{"mobile": "919900000001", "rewards": [{{"rewardId": 351}}]}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["rewards"][0]["transactionId"])')
  $CAP '{base}/v1/user/reward/revoke?username=o2.till' -d '{{"txnId": '$TXN', "notes": "order cancelled"}}'
  # fulfilment: status and custom fields of issued rewards, all or nothing, with history
  $CAP -X PUT '{base}/v1/management/transactions?username=o2.till' \\
    -d '{{"transactions": [{{"transactionId": '$TXN', "fulfillmentStatus": {{"name": "SHIPPED"}},
         "transactionCustomFields": {{"giftMessage": "happy birthday"}}}}]}}'
"""
