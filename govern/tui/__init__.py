"""The Textual terminal app: a thin front end over govern.services.

``from govern.tui.app import make_app`` builds it; importing this package alone loads nothing
heavy, so ``govern --help`` stays fast.
"""
