"""Run a command under torchrun with two CPU processes, killing the whole group on a hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def run_two_processes(arguments: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 <arguments>`` with one thread per process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *arguments]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    # Own session: on a hang, the workers torchrun started are killed with it.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
