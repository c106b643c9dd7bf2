"""One worker process of a cluster training job: ``python -m tlgeo.distributed.train_worker TRAIN-ARGS…``.

Started by :func:`tlgeo.distributed.train.train_on_cluster` (through a Dask task on each worker) with ``TF_CONFIG``
naming every worker and this one's index, and ``TLGEO_WORKER_INDEX``. ``MultiWorkerMirroredStrategy`` must exist
before any other TensorFlow op in the process, so it is created first, installed as the process's strategy, and
then the ordinary ``tlgeo train`` command runs with the same arguments: every fit of a whole-network strategy
goes through :func:`tlgeo.distributed.train_loop.fit_synchronous`, and only worker 0 (the chief) writes the run.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """Create the multi-worker strategy, then run ``tlgeo train`` with ``argv``; returns its exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from tlgeo import devices

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    devices.install_strategy(strategy)
    from tlgeo.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
