"""Where batch tasks run: in this process, in a pool of local processes, or on a Dask cluster.

All three are :class:`concurrent.futures.Executor` objects, so the batch runs the same
code on each. Local worker processes start from a fork server (spawned where there is
none), with the preset loaded once per process by :func:`realtime_nmf.batch.worker.init_process`.
On a cluster, ``distributed.Client(ADDRESS).get_executor()`` is the executor; the preset
is sent to every worker once (scattered) and each task refers to it.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from pathlib import Path

from ..errors import ParameterError
from .worker import PresetPayload, Task, init_process, process_task, process_task_on_cluster, worker_environment

__all__ = ["InProcessExecutor", "local_pool", "usable_cores", "DaskCluster"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class InProcessExecutor(cf.Executor):
    """Runs each task at once in the calling thread (``--jobs 1``); Ctrl-C interrupts the file in progress."""

    def __init__(self, payload: PresetPayload):
        self.payload = payload

    def submit(self, fn, /, *args, **kwargs):
        """Run ``fn(*args, **kwargs)`` now; return a finished future."""
        future = cf.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def run_task(self, task: Task):
        return self.submit(process_task, task, self.payload)


def local_pool(jobs: int, payload: PresetPayload) -> cf.ProcessPoolExecutor:
    """A pool of ``jobs`` worker processes, each with the preset built and BLAS pinned to one thread."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["realtime_nmf.batch.worker", "realtime_nmf.offline", "realtime_nmf.presets"])
        # The fork server imports the worker code once, before any worker forks from it. It starts
        # as a fresh interpreter (Python 3.11's ignores the sys.path it is handed): this package's
        # folder goes first on its PYTHONPATH, so that it imports this very copy of realtime_nmf
        # (say, from a source checkout run with python -m, after a change of folder).
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2])] + ([saved] if saved else []))
        try:
            from multiprocessing import forkserver

            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
    else:
        context = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=init_process, initargs=(payload,))


class DaskCluster:
    """A connection to a running Dask scheduler, checked to be able to run the batch.

    Parameters
    ----------
    address : str
        The scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
    payload : PresetPayload
    input_dir, staging_dir : str
        Folders every worker must see (a shared file system) and, for the second, write.

    Raises
    ------
    ParameterError
        When ``distributed`` is not installed, the scheduler cannot be reached, it has
        no workers, or a worker runs another version of realtime_nmf or does not see the
        folders.
    """

    def __init__(self, address: str, payload: PresetPayload, input_dir: str, staging_dir: str, *, timeout: float = 10.0):
        try:
            from distributed import Client
        except ImportError:
            raise ParameterError("--scheduler needs Dask's distributed package; install it with: pip install 'realtime_nmf[cluster]'") from None
        from .._version import __version__

        try:
            self.client = Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, ValueError, TypeError) as exc:
            raise ParameterError(f"cannot reach the Dask scheduler at {address!r} ({exc}); start one with 'dask scheduler' "
                                 "and give the address it prints") from None
        try:
            try:
                self.client.wait_for_workers(1, timeout=timeout)
            except Exception:
                raise ParameterError(f"the Dask scheduler at {address!r} has no workers; start some with 'dask worker {address}'") from None
            try:
                reports = self.client.run(worker_environment, input_dir, staging_dir, on_error="return")
            except Exception as exc:
                raise ParameterError(f"the Dask workers cannot run realtime_nmf ({type(exc).__name__}: {exc}); "
                                     f"install realtime_nmf {__version__} on every worker") from None
            for worker, report in sorted(reports.items()):
                if isinstance(report, BaseException):
                    raise ParameterError(f"Dask worker {worker} cannot run realtime_nmf.batch ({type(report).__name__}: {report}); "
                                         f"install realtime_nmf {__version__} on every worker")
                if report["version"] != __version__:
                    raise ParameterError(f"Dask worker {worker} runs realtime_nmf {report['version']}, this is {__version__}; "
                                         "install the same version on every worker (outputs must not depend on the machine)")
                if report["problems"]:
                    raise ParameterError(f"Dask worker {worker} {report['problems'][0]}; the workers need the input and "
                                         "output folders at the same paths (a shared file system)")
            self.threads = max(1, sum(self.client.nthreads().values()))
            self.payload = self.client.scatter(payload, broadcast=True, hash=False)
            self.executor = self.client.get_executor(pure=False)
        except BaseException:
            self.client.close()
            raise

    def run_task(self, task: Task) -> cf.Future:
        return self.executor.submit(process_task_on_cluster, task, self.payload)

    def close(self) -> None:
        self.client.close()
