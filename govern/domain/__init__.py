"""Pure value objects of govern: references, roles, lifecycle, cards. No I/O, no UI."""
