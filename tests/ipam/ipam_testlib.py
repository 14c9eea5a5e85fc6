# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the IPAM tests: the PostgreSQL server fixture, stores, store snapshots.

Imported by tests/ipam/conftest.py and tests/unit/plugins/plugin_utils/conftest.py.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POSTGRES_SH = os.path.join(REPO_ROOT, "tests", "tools", "postgres.sh")
TABLES = ("ipam_allocation", "ipam_run", "ipam_pool", "ipam_log")


def register_markers(config):
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server of tests/tools/postgres.sh")


@pytest.fixture(scope="session")
def pg_server():
    """Start the throwaway PostgreSQL server (installing it if needed); stop it at the end if we started it."""
    was_running = subprocess.run([POSTGRES_SH, "status"], capture_output=True, check=False).returncode == 0
    out = subprocess.run([POSTGRES_SH, "start"], capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        pytest.fail(f"tests/tools/postgres.sh start failed:\n{out.stderr}")
    dsn = out.stdout.strip().splitlines()[-1]
    yield dsn
    if not was_running and not os.environ.get("VMNET_PG_KEEP"):
        subprocess.run([POSTGRES_SH, "stop"], capture_output=True, timeout=120, check=False)


def pg_schema_dsn(server_dsn: str) -> str:
    """A fresh schema on the server; the DSN puts it first on search_path."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return f"{server_dsn}?options=-csearch_path%3D{name}"


def snapshot(cfg: dict) -> dict:
    """Every row of every IPAM table, to assert that a failed call changed nothing."""
    out = {}
    if cfg["backend"] == "sqlite":
        if not os.path.exists(cfg["path"]):
            return {"file": "absent"}
        conn = sqlite3.connect(cfg["path"])
        try:
            for t in TABLES:
                try:
                    out[t] = sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall()))
                except sqlite3.OperationalError:
                    out[t] = None
        finally:
            conn.close()
        return out
    import psycopg

    with psycopg.connect(cfg["dsn"], autocommit=True) as conn:
        for t in TABLES:
            if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0] is None:
                out[t] = None
            else:
                out[t] = sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall()))
    return out


def make_cfg(backend: str, tmp_path, pg_dsn=None, cooldown=600) -> dict:
    if backend == "sqlite":
        return {"backend": "sqlite", "path": str(tmp_path / "ipam.sqlite"), "cooldown": cooldown,
                "busy_timeout": 60.0}
    return {"backend": "postgresql", "dsn": pg_schema_dsn(pg_dsn), "cooldown": cooldown, "lock_timeout": 60.0}


def parametrize_backends(metafunc):
    """pytest_generate_tests of the IPAM test directories: every test taking `backend` runs on
    SQLite and on PostgreSQL (marked `postgres`)."""
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])


def backend_cfg(cooldown=600):
    """A `cfg` fixture: the store configuration of the test's backend (a fresh store per test)."""
    @pytest.fixture
    def cfg(backend, tmp_path, request):
        dsn = request.getfixturevalue("pg_server") if backend == "postgresql" else None
        return make_cfg(backend, tmp_path, dsn, cooldown=cooldown)
    return cfg
