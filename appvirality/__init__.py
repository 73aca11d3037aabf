"""The AppVirality wire format (Redeem Rewards, ``POST /v2_0/redeemrewards``): an adapter that only
translates. ``wire.py`` parses and renders, ``apis.py`` is the DRF view, ``urls.py`` its routes; the
call itself is ``wallets.redeem.redemption_call``."""
