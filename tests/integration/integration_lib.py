# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the integration tests (a module of its own: `conftest` is ambiguous when pytest
collects several test directories in one run)."""
import os
import subprocess

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def sh(*args, **kw):
    """Run argv, fail loudly; returns stdout text."""
    check = kw.pop('check', True)
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False, **kw)
    if check and p.returncode != 0:
        raise AssertionError('%r failed (rc=%d): %s %s' % (args, p.returncode, p.stdout, p.stderr))
    return p.stdout
