# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "ipam"))

from ipam_testlib import make_cfg, register_markers  # noqa: E402
import ipam_testlib  # noqa: E402

pg_server = ipam_testlib.pg_server  # session fixture: the PostgreSQL server


def pytest_configure(config):
    register_markers(config)


def pytest_generate_tests(metafunc):
    # at collection time, after pytest_configure registered the marker
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])


@pytest.fixture
def cfg(backend, tmp_path, request):
    dsn = request.getfixturevalue("pg_server") if backend == "postgresql" else None
    return make_cfg(backend, tmp_path, dsn)
