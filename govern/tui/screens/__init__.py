"""The console's screens: catalogue, review queue, audit log, one version, compare."""
