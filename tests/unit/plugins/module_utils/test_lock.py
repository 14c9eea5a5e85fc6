# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import multiprocessing
import time

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _lock


def _hold(path, seconds, ready):
    with _lock.FileLock(path):
        ready.set()
        time.sleep(seconds)


def test_second_holder_waits_then_times_out(tmp_path):
    path = str(tmp_path / 'x.lock')
    ready = multiprocessing.Event()
    p = multiprocessing.Process(target=_hold, args=(path, 2.0, ready))
    p.start()
    try:
        assert ready.wait(10)
        t0 = time.time()
        with pytest.raises(_lock.LockTimeout):
            with _lock.FileLock(path, timeout=0.5):
                pass
        assert time.time() - t0 >= 0.5
        # once released, the lock is available again
        p.join(10)
        with _lock.FileLock(path, timeout=1):
            pass
    finally:
        p.join(10)


def test_reentrant_use_after_release(tmp_path):
    path = str(tmp_path / 'y.lock')
    with _lock.FileLock(path, timeout=0.1):
        pass
    with _lock.FileLock(path, timeout=0.1):
        pass
