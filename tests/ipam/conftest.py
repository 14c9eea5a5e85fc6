# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPAM concurrency, crash and PostgreSQL tests. Imports the collection the way tests/unit does."""
from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def _collection_importable():
    try:
        return importlib.util.find_spec("ansible_collections.vmnet.ipfabric") is not None
    except ImportError:
        return False


if not _collection_importable():  # tests/unit/conftest.py did not run
    _base = tempfile.mkdtemp(prefix="vmnet-ipfabric-collections-")
    os.makedirs(os.path.join(_base, "ansible_collections", "vmnet"))
    os.symlink(REPO_ROOT, os.path.join(_base, "ansible_collections", "vmnet", "ipfabric"))
    sys.path.insert(0, _base)
    atexit.register(shutil.rmtree, _base, True)

from ipam_testlib import register_markers  # noqa: E402
import ipam_testlib  # noqa: E402

pg_server = ipam_testlib.pg_server  # session fixture: the PostgreSQL server


def pytest_configure(config):
    register_markers(config)


pytest_generate_tests = ipam_testlib.parametrize_backends
cfg = ipam_testlib.backend_cfg(cooldown=0)
