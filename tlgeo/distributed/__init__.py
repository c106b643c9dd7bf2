"""Scale-out on Dask distributed: scene prediction over window batches, and multi-worker training.

- :mod:`tlgeo.distributed.cluster` — ``--cluster local[:N] | ADDRESS``: start a loopback ``LocalCluster`` or connect
  to a running scheduler; what the dashboard and CLI show about it.
- :mod:`tlgeo.distributed.predict` — the same prediction as :func:`tlgeo.predict.predict_inputs`, with each batch of
  windows read and predicted on a worker (model loaded once per worker process), results spooled to disk, merged.
- :mod:`tlgeo.distributed.train` — ``tlgeo train`` on N workers with ``MultiWorkerMirroredStrategy`` (``TF_CONFIG``
  set per worker); the chief alone writes the run folder.

Why Dask and not Ray: ``docs/scaling.md``.
"""
