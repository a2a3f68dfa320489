"""The command line: a thin Typer adapter over :mod:`govern.services`.

Each command parses its arguments, calls one service function and prints the result.
Nothing heavy is imported at module level, so ``govern --help`` stays fast.
"""
