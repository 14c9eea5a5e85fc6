# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the plugin unit tests: IPAM stores on SQLite and PostgreSQL (tests/ipam/ipam_testlib.py)."""
from __future__ import annotations

import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ipam"))

from ipam_testlib import register_markers  # noqa: E402
import ipam_testlib  # noqa: E402

pg_server = ipam_testlib.pg_server  # session fixture: the PostgreSQL server


def pytest_configure(config):
    register_markers(config)


pytest_generate_tests = ipam_testlib.parametrize_backends
cfg = ipam_testlib.backend_cfg()
