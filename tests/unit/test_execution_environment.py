# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""execution-environment.yml is a valid ansible-builder v3 definition that carries the collection's
controller requirements (the image itself needs podman and a registry, neither of which is here)."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ansible_builder_creates_the_build_context(tmp_path):
    builder = os.path.join(os.path.dirname(sys.executable), "ansible-builder")
    proc = subprocess.run([builder, "create", "-f", os.path.join(REPO, "execution-environment.yml"),
                           "-c", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    build = tmp_path / "_build"
    with open(os.path.join(REPO, "requirements.txt")) as f:
        wanted = [line.split("==")[0].split("[")[0] for line in f if line.strip() and not line.startswith("#")]
    carried = (build / "requirements.txt").read_text()
    for package in wanted:
        assert package in carried, package
    assert "junipernetworks.junos" in (build / "requirements.yml").read_text()
    dockerfile = (tmp_path / "Dockerfile").read_text()
    assert "ansible-galaxy collection install" in dockerfile
    assert "import psycopg, netaddr, yaml" in dockerfile
