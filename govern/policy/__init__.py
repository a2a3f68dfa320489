"""Policy-as-code: schema, loader, rule registry and a pure evaluation engine."""
