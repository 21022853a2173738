#!/usr/bin/env python3
"""The exec step of config/orders.json: one order (the event's data) on
stdin, one order.enriched event on stdout.  An order it cannot price exits
non-zero with the reason on stderr, which the host turns into a failure
event carrying that reason (routed to order.rejected)."""
import json
import sys

TIERS = {"ada": "gold", "grace": "silver"}
VAT_PERCENT = {"EUR": 20, "GBP": 20, "CHF": 8}
EXPRESS_FROM_CENTS = 50000

order = json.load(sys.stdin)
currency = order.get("currency", "EUR")
if currency not in VAT_PERCENT:
    sys.exit(f"order {order['id']}: no VAT rate for currency {currency}")
tier = TIERS.get(order["customer"], "new")
amount = order["amount_cents"]
# Integer cents, rounded half up: no binary fractions in the outputs.
vat = (amount * VAT_PERCENT[currency] + 50) // 100
print(json.dumps({"type": "order.enriched", "data": {
    "id": order["id"], "customer": order["customer"], "tier": tier,
    "currency": currency, "amount_cents": amount, "vat_cents": vat,
    "total_cents": amount + vat,
    "priority": "express" if tier == "gold" or amount >= EXPRESS_FROM_CENTS else "normal",
}}))
