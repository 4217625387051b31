"""`mlprod loadtest`: a project's server under load from Locust, with honest percentiles.

The modules here split the work so that only `engine` imports Locust (which
monkey-patches the standard library through gevent when imported):

- `settings`:  the options, checked, as one frozen value; durations.
- `payloads`:  request bodies from the model's input schema and example data.
- `recording`: per-second HDR histograms in each load process, merged on the master.
- `report`:    the summary table, the versioned JSON document, thresholds.
- `html`:      a self-contained HTML report with latency and throughput over time.
- `engine`:    Locust: the user, the local, master and worker runners.
- `run`:       the whole run: target server, payloads, engine, outputs.
"""
