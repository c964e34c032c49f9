"""Questions about live data: one order's state, stock. No facts file can answer them, so they
go to a colleague without asking the model (which would guess a date or a status)."""

from __future__ import annotations

import re

_ORDERS = (
    # An order the customer names by its number.
    re.compile(r"\border\s*(?:no\.?|number|id)?\s*#?\s*\d{3,}", re.IGNORECASE),
    re.compile(r"#\s*\d{3,}"),
    re.compile(r"订单(?:号)?\s*[:：#]?\s*\d{3,}"),
    # The state of the customer's own order or parcel.
    re.compile(
        r"\b(?:where(?:'s| is)|status of|track(?:ing)?)\b.{0,20}\b(?:my|the)\s+"
        r"(?:order|package|parcel|delivery|shipment)",
        re.IGNORECASE,
    ),
    re.compile(r"\bmy (?:order|package|parcel)\b.{0,30}\b(?:arrive|ship|status|where)", re.I),
    re.compile(r"我的(?:订单|包裹|快递).{0,12}(?:到|发货|状态|哪)"),
    re.compile(r"(?:物流|快递)(?:信息|单号|到哪)"),
)
_STOCK = (
    re.compile(r"\b(?:in stock|out of stock|stock level|available now)\b", re.IGNORECASE),
    re.compile(r"有货|现货|库存|缺货|断货"),
)


def asks_live_data(text: str, *, orders: bool = True) -> bool:
    """Whether `text` asks about stock, or (with `orders`) about one order of the customer's:
    where triage reads the intent, the intent tells order questions better than these words."""
    patterns = (*_STOCK, *_ORDERS) if orders else _STOCK
    return any(pattern.search(text) for pattern in patterns)
