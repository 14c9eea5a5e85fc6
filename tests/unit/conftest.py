# -*- coding: utf-8 -*-
"""Make ``ansible_collections.vmnet.ipfabric`` importable from this checkout for pytest.

A temporary ``ansible_collections/vmnet/ipfabric`` symlink to the repository root is put on
``sys.path`` (unless the checkout already lives in such a tree).
"""

from __future__ import annotations

import os
import sys
import tempfile

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _collection_parent():
    parts = REPO_ROOT.split(os.sep)
    if len(parts) >= 3 and parts[-3] == "ansible_collections" and parts[-2:] == ["vmnet", "ipfabric"]:
        return os.sep.join(parts[:-3])
    base = tempfile.mkdtemp(prefix="vmnet-ipfabric-pytest-")
    os.makedirs(os.path.join(base, "ansible_collections", "vmnet"))
    os.symlink(REPO_ROOT, os.path.join(base, "ansible_collections", "vmnet", "ipfabric"))
    return base


_PARENT = _collection_parent()
if _PARENT not in sys.path:
    sys.path.insert(0, _PARENT)

# ansible-core ships an ansible_collections package of its own; extend its search path.
try:
    import ansible_collections  # noqa: F401  pylint: disable=unused-import

    _AC = os.path.join(_PARENT, "ansible_collections")
    if _AC not in list(ansible_collections.__path__):
        ansible_collections.__path__.append(_AC)
except ImportError:  # pragma: no cover
    pass


def pytest_configure(config):
    # used at import time by parametrized fixtures below tests/unit (IPAM store tests)
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server of tests/tools/postgres.sh")
