# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node-local exclusive lock (flock) so concurrent runs do not interleave read-plan-apply.

Stdlib only, Python 3.6+. Without it, frr_config (reload of the whole config) running while
frr_network adds a statement could drop that statement, and two vm_interface runs could lose
each other's entry in the state file.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import os
import time

LOCK_DIRS = ('/run/lock', '/var/lock', '/tmp')


class LockTimeout(Exception):
    pass


def lock_path(name):
    for d in LOCK_DIRS:
        if os.path.isdir(d) and os.access(d, os.W_OK):
            return os.path.join(d, name)
    return os.path.join('/tmp', name)


class FileLock(object):
    def __init__(self, path, timeout=300.0):
        self.path = path
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except (IOError, OSError) as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.time() >= deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise LockTimeout('another run holds %s for more than %ds' % (self.path, self.timeout))
                time.sleep(0.1)

    def __exit__(self, *exc):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        return False


def run_exclusive(module, run, name):
    """Call run(module) holding the node-local lock NAME (run ends with exit_json or fail_json).
    Check mode only reads, so it takes no lock."""
    if module.check_mode:
        run(module)
        return
    try:
        with FileLock(lock_path(name)):
            run(module)
    except LockTimeout as e:
        module.fail_json(msg=str(e))
