"""`mlprod benchmark`'s work: the model alone, in the project's own environment.

- `settings`: what to measure and how much (batch sizes, runs, thresholds), parsed
  from the command line.
- `inputs`: which trained model version, and rows for it from the project's data.
- `process`: the project's interpreter and the runner script it executes.
- `measure`: the runner's phases in order (probe, fresh-process loads, predictions).
- `stats`: summaries, outliers, stability warnings, the Mann-Whitney U test.
- `document`: the versioned JSON result, baselines under `benchmarks/`.
- `compare`: a result against a baseline, figure by figure.
- `report`: the tables (Rich, imported only when printing).
"""
