# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Target-side code runs on AlmaLinux 8 and Ubuntu 20.04 nodes: Python 3.6 and the standard library."""
import ast
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET_DIRS = [os.path.join(REPO, "plugins", "modules"), os.path.join(REPO, "plugins", "module_utils")]
TARGET_FILES = sorted(os.path.join(d, f) for d in TARGET_DIRS for f in os.listdir(d) if f.endswith(".py"))
STDLIB = set(sys.stdlib_module_names)
ALLOWED = {"ansible", "ansible_collections"}   # shipped to the target by Ansible itself


def test_vermin_finds_python_3_6_enough():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    proc = subprocess.run([vermin, "-q", "-t=3.6-", "--no-tips", "--violations"] + TARGET_DIRS,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("path", TARGET_FILES, ids=os.path.basename)
def test_parses_as_python_3_6_and_imports_only_the_standard_library(path):
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path, feature_version=(3, 6))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in STDLIB or top in ALLOWED, "{} imports {}".format(os.path.basename(path), name)
