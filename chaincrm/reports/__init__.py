"""Reports: the KPIs computed from the index or the chain and their rendering. ``kpis`` gathers
the public names; ``records``, ``history``, ``filters``, ``figures`` and ``reconcile`` each do one
job, and ``render`` draws tables, CSV, PNG and HTML."""
