"""Reports: the KPIs computed from the index or the chain (``kpis``) and their rendering
(``render``: tables, CSV, PNG, HTML)."""
