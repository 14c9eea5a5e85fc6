# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for ansible-test's pip bootstrap script (get-pip-X.py).

ansible-test downloads get-pip from a host this machine cannot reach, then runs it inside each
fresh sanity virtualenv with the pip install arguments it wants. This script does the same job
with what Python ships: ensurepip installs the bundled pip, which then installs the requested
versions from PyPI. ansible-test runs it with a filtered environment, so the system CA bundle
(needed where PyPI is reached through a TLS-inspecting proxy) is written into the virtualenv's
own pip.conf, which every later pip run in that virtualenv reads. `make sanity` copies this file
into ansible-test's cache.
"""
import ensurepip
import os
import subprocess
import sys

BUNDLES = [os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"]
bundle = next((b for b in BUNDLES if b and os.path.isfile(b)), None)
if bundle and sys.prefix != sys.base_prefix:
    with open(os.path.join(sys.prefix, "pip.conf"), "w") as f:
        f.write("[global]\ncert = %s\n" % bundle)

ensurepip.bootstrap(upgrade=True)
# get-pip's own flags (pip itself has no such options)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ensurepip points PIP_CONFIG_FILE at /dev/null for its own run: the install must read pip.conf
env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
