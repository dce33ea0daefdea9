"""Read models: the queries the dashboard and the notebooks share (issue 18: one definition per rule).

Headless (no textual, no exchangelib; a test imports it in a subprocess). The dashboard renders these
as pages and panels (``workbench.ui``), the notebooks as DataFrames (``workbench.insights`` re-exports
them). Modules: ``paging`` (one query, a page at a time), ``catalogue`` (title, cause, remedy of a code),
``operators`` (verification states), ``journal`` (runs, journal, failures, retries, throughput,
mailboxes), ``overview`` (the Overview screen), ``settings`` (the Settings form), ``charts`` (the
health notebook's colours and buckets).
"""
