"""Scale-out on Dask distributed: scene prediction over window batches, and multi-worker training.

- :mod:`tlgeo.distributed.cluster` — ``--cluster local[:N] | ADDRESS``: start a loopback ``LocalCluster`` or connect
  to a running scheduler; what the dashboard and CLI show about it.
- :mod:`tlgeo.distributed.predict` — the same prediction as :func:`tlgeo.predict.predict_inputs`, with each batch of
  windows read and predicted on a worker (model loaded once per worker process), results spooled to disk, merged.

Multi-worker training is not here yet: Keras 3's ``model.fit`` fails under ``MultiWorkerMirroredStrategy`` with
2+ workers (keras-team/keras#20585; the same error hits Ray's ``TensorflowTrainer``, ray-project/ray#47464) —
see ``docs/scaling.md``.

Why Dask and not Ray: ``docs/scaling.md``.
"""
