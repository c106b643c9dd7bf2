"""``tlgeo train … --cluster local[:N] | ADDRESS``: the same training, synchronously on N workers.

The Dask cluster (:mod:`tlgeo.distributed.cluster`) places the work: one task per Dask worker starts a fresh
``python -m tlgeo.distributed.train_worker`` process with ``TF_CONFIG`` naming every worker (a free port on each
worker's host) and its index. TensorFlow's ``MultiWorkerMirroredStrategy`` then all-reduces the gradients of every
step between those processes (:mod:`tlgeo.distributed.train_loop`). Every worker runs the whole command — the
spatial folds and the final refit, each fit synchronous across the workers, each worker stepping on its own shard
of the training tiles — and only worker 0, the chief, writes the run folder (atomically, as single-host training
does). The chief's output (epoch lines, fold results) reaches the driver line by line while it trains (Dask events).
When one worker fails, the others are stopped and the command reports which failed and why.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from tlgeo.errors import ConfigError, TlgeoError

#: How often a worker task checks whether the job was aborted (seconds).
_POLL_S = 0.5


class ClusterTrainingError(TlgeoError):
    """A cluster training worker failed; the message names it and its last line of output."""


def check_cluster_strategy(strategy: str) -> None:
    """Refuse strategies that do not train on a cluster, naming those that do.

    Raises:
        ConfigError: ``strategy`` is not a whole-network strategy.
    """
    from tlgeo.distributed.train_loop import CLUSTER_STRATEGIES

    if strategy not in CLUSTER_STRATEGIES:
        raise ConfigError(
            f"--strategy {strategy} does not train on a cluster (--cluster): only the whole-network strategies do",
            hint=f"Use --strategy {', '.join(CLUSTER_STRATEGIES)} with --cluster, or drop --cluster "
            "(the feature strategies need one forward pass, which one machine does).",
        )


def strip_cluster_flag(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--cluster VALUE`` / ``--cluster=VALUE`` (what each worker runs)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--cluster":
            skip = True
            continue
        if arg.startswith("--cluster="):
            continue
        out.append(arg)
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _host_of(address: str) -> str:
    """``tcp://10.0.0.5:40123`` → ``10.0.0.5``."""
    hostport = address.split("://", 1)[-1]
    return hostport.rsplit(":", 1)[0]


def _pump(stream, lines: list[str], publish=None) -> None:
    """Collect a worker process's output lines (and pass each to ``publish`` as it arrives)."""
    for line in stream:
        lines.append(line)
        if publish is not None:
            publish(line.rstrip("\n"))


def _run_worker(argv: list[str], cluster: list[str], index: int, abort_name: str, topic: str | None = None) -> dict:
    """A Dask task: run one training worker process to its end (or until the job is aborted).

    With ``topic``, each line the process prints is also sent to the driver as it comes (a Dask event on that
    topic), so the chief's epoch lines appear while training runs.
    """
    import json
    import threading

    from distributed import Event, get_worker

    from tlgeo.distributed.train_loop import WORKER_INDEX_ENV

    env = dict(os.environ)
    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": cluster}, "task": {"type": "worker", "index": index}})
    env[WORKER_INDEX_ENV] = str(index)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tlgeo.distributed.train_worker", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    publish = None
    if topic is not None:
        worker = get_worker()
        publish = lambda line: worker.log_event(topic, line)  # noqa: E731 - thread-safe in distributed
    out: list[str] = []
    err: list[str] = []
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out, publish), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
    ]
    for t in pumps:
        t.start()
    abort = Event(abort_name)
    aborted = False
    while proc.poll() is None:
        if abort.is_set():
            proc.kill()
            aborted = True
            break
        time.sleep(_POLL_S)
    proc.wait()
    for t in pumps:
        t.join()
    return {
        "index": index,
        "returncode": proc.returncode,
        "stdout": "".join(out),
        "stderr": "".join(err),
        "aborted": aborted,
    }


def _check_same_weights(results: dict[int, dict]) -> None:
    """Every worker must end every fit with the same weights (the checksum lines of :mod:`train_loop`).

    Raises:
        ClusterTrainingError: Two workers disagree (names the fit and the workers).
    """
    from tlgeo.distributed.train_loop import CHECKSUM_LABEL

    def sums(res: dict) -> list[str]:
        lines = (ln for ln in (res.get("stdout") or "").splitlines() if CHECKSUM_LABEL in ln)
        return [ln.split("(worker")[0].strip() for ln in lines]

    reference = sums(results.get(0, {}))
    for index, res in sorted(results.items()):
        if sums(res) != reference:
            raise ClusterTrainingError(
                f"cluster training worker {index} ended with other weights than worker 0 "
                f"({len(sums(res))} vs {len(reference)} fits checked)",
                hint="Report this with the command; train without --cluster meanwhile.",
            )


def train_on_cluster(argv: Sequence[str], cluster: str, *, stream=None) -> int:
    """Run ``tlgeo train argv`` synchronously on the workers of ``cluster``; print the chief's output.

    Returns:
        The chief's exit status (0 when the run was written).

    Raises:
        ConfigError: A bad ``--cluster`` value, or no scheduler at the address.
        ClusterTrainingError: A worker failed (names which, with its last error line).
    """
    from distributed import Event, as_completed

    from tlgeo.distributed.cluster import open_cluster, parse_cluster

    stream = stream or sys.stdout
    spec = parse_cluster(cluster)
    args = strip_cluster_flag(argv)
    with open_cluster(spec) as client:
        if not spec.local:
            client.wait_for_workers(1, timeout=60)
        workers = sorted(client.scheduler_info()["workers"])
        ports = client.run(_free_port)
        peers = [f"{_host_of(w)}:{ports[w]}" for w in workers]
        print(
            f"cluster {spec}: {len(workers)} worker(s) train synchronously (MultiWorkerMirroredStrategy); "
            "worker 0 writes the run",
            file=stream,
            flush=True,
        )
        job = uuid.uuid4().hex
        abort_name, topic = f"tlgeo-train-abort-{job}", f"tlgeo-train-output-{job}"
        streamed: list[str] = []

        def show(event) -> None:  # runs on the client's event-loop thread, in the order the chief printed
            streamed.append(event[1])
            print(event[1], file=stream, flush=True)

        client.subscribe_topic(topic, show)
        futures = [
            client.submit(
                _run_worker,
                args,
                peers,
                i,
                abort_name,
                topic if i == 0 else None,
                workers=[w],
                allow_other_workers=False,
                pure=False,
            )
            for i, w in enumerate(workers)
        ]
        results: dict[int, dict] = {}
        failed: dict | None = None
        for future in as_completed(futures):
            try:
                res = future.result()
            except Exception as exc:  # the Dask worker itself died
                res = {"index": futures.index(future), "returncode": -1, "stdout": "", "stderr": repr(exc)}
            results[res["index"]] = res
            if res["returncode"] != 0 and not res.get("aborted") and failed is None:
                failed = res
                Event(abort_name, client=client).set()  # the others would wait forever in the next all-reduce
        client.unsubscribe_topic(topic)
    chief = results.get(0, {})
    if failed is None:
        _check_same_weights(results)
    # lines whose events had not arrived when the job ended (the events come in order: the streamed ones are a prefix)
    lines = (chief.get("stdout") or "").split("\n")
    rest = lines[len(streamed) : -1 if lines[-1] == "" else None]
    if rest:
        stream.write("\n".join(rest) + "\n")
        stream.flush()
    if failed is not None:
        err = [ln for ln in (failed.get("stderr") or "").splitlines() if ln.strip()]
        last = err[-1] if err else f"exit status {failed['returncode']}"
        if failed["returncode"] == 2 and last.startswith("error:"):
            raise ConfigError(last.removeprefix("error:").strip())
        raise ClusterTrainingError(
            f"cluster training worker {failed['index']} failed: {last}",
            hint="Run the same command without --cluster to see the full error, or with --verbose.",
        )
    return int(chief.get("returncode", 1))
