"""The SLO watch (scheduled evaluation, paging, re-paging) and `/bizra slo`."""
