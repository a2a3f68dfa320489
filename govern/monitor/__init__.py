"""Production monitoring: prediction logs reduced to sufficient statistics per day.

:mod:`govern.monitor.logs` finds and hashes the log files a run reads and says what their
columns mean; :mod:`govern.monitor.aggregate` reduces them in DuckDB, out of core, to counts
per day, group, decision and outcome and to score histograms on fixed bin edges (never raw
rows); :mod:`govern.monitor.figures` derives from those counts the figures ``govern
evaluate`` computes, with the same functions (:func:`govern.assess.fairness.build_grouping`).

No storage here: :mod:`govern.services.monitoring` records what a run counted.
"""
