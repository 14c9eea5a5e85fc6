# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection built into a tarball and installed runs its playbooks by FQCN, without the checkout."""
import glob
import os
import subprocess

from conftest import INVENTORY, REPO, PlaybookResult

VENV_BIN = os.path.join(REPO, ".venv", "bin")


def test_build_install_and_run_from_the_installed_collection(lab, site, tmp_path):
    dist, installed = tmp_path / "dist", tmp_path / "collections"
    subprocess.run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
                   check=True, stdout=subprocess.PIPE)
    tarball, = glob.glob(str(dist / "vmnet-ipfabric-*.tar.gz"))
    # --no-deps: the dependencies come with the ansible package in the virtualenv (no Galaxy here)
    # only the installed copy is on the collections path: the checkout's .build link is not
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    subprocess.run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p",
                    str(installed), tarball], check=True, stdout=subprocess.PIPE, env=env, cwd=str(tmp_path))
    assert (installed / "ansible_collections" / "vmnet" / "ipfabric" / "MANIFEST.json").is_file()
    where = subprocess.run([os.path.join(VENV_BIN, "ansible-doc"), "-t", "module", "vmnet.ipfabric.vm_interface"],
                           env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True, cwd=str(tmp_path))
    assert str(installed) in where.stdout

    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", INVENTORY, "vmnet.ipfabric.vm_create",
                           "-e", "vm_name=inst1", "-e", "node=node3"], env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    result = PlaybookResult(proc)
    assert result.rc == 0, result
    v4, dummy = lab.vm_addresses("node3", "inst1")
    assert lab.core_routes("ipv4").get(v4 + "/32") == ["172.16.0.13"]
    assert lab.ping("inet1", v4)

    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", INVENTORY, "vmnet.ipfabric.vm_delete",
                           "-e", "vm_name=inst1"], env=env, cwd=str(tmp_path),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert v4 + "/32" not in lab.core_routes("ipv4")
