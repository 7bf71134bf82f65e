"""`_forks.ForkedProcess`: the handle on a forked server, used from several threads at once."""
import os
import subprocess
import threading

from agentscope_rpc._forks import ForkedProcess


def test_many_threads_waiting_and_killing_leave_every_other_descriptor_alone():
    for _ in range(20):
        child = subprocess.Popen(["sleep", "30"])
        read_end, write_end = os.pipe()
        proc = ForkedProcess(child.pid, write_end)
        failures: list = []

        def wait_for_it() -> None:
            try:
                assert proc.wait(10) == 0
                assert proc.poll() == 0
            except BaseException as err:  # noqa: BLE001  (collected for the assertion below)
                failures.append(err)

        threads = [threading.Thread(target=wait_for_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        proc.kill()
        for thread in threads:
            thread.join(10)
        child.wait(10)  # Popen reaps it here (the fork server would)
        # descriptors opened after the end are not closed by a late close of the pidfd
        sentinel_r, sentinel_w = os.pipe()
        proc.kill()  # after the end: a no-op, never a signal through a reused descriptor

        os.fstat(sentinel_r), os.fstat(sentinel_w)
        assert failures == [] and proc.returncode == 0
        for fd in (sentinel_r, sentinel_w, read_end):
            os.close(fd)
        proc.stdin.close()
        del proc  # closes the pidfd, once
