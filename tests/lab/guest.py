# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's VMs, built from Debian packages only.

KVM guest: Debian 12's own kernel and a busybox initramfs whose init (image/guest-init) loads the
virtio_net modules and configures the VM's addresses from the kernel command line (vmnet.ipv4=,
vmnet.ipv6=, vmnet.gw4=, vmnet.gw6=) that the lab's hypervisor hook puts into the libvirt domain.
Booted by qemu (TCG) it answers ping on its tap a few seconds after start, in 96 MiB.

LXD container: a busybox image (metadata and rootfs tarballs that LXD imports, no image server) whose
init (image/container-init) configures the VM's addresses from its environment.* keys.
"""
import glob
import gzip
import os
import shutil
import io
import stat
import subprocess
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_DIR = "var/lib/vmnet-lab/guest"       # inside the image
LXD_DIR = "var/lib/vmnet-lab/lxd"
# Debian's kernel has virtio_net as modules; the order is their dependency order
MODULES = ("virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
           "failover", "net_failover", "virtio_net")
PACKAGES = ("linux-image-amd64", "busybox-static")


class GuestError(Exception):
    pass


def _run(argv, cwd=None):
    res = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                         check=False)
    if res.returncode != 0:
        raise GuestError("{} failed: {}".format(" ".join(argv), res.stdout.strip()[-2000:]))
    return res.stdout


def kernel_package():
    """The versioned package linux-image-amd64 depends on (e.g. linux-image-6.1.0-57-amd64)."""
    out = _run(["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "Depends:" and words[1].startswith("linux-image-"):
            return words[1]
    raise GuestError("apt-cache depends linux-image-amd64 names no kernel package:\n" + out)


def download(packages, dest):
    """apt-get download on this machine (refreshing the package lists once if a package is unknown)."""
    try:
        _run(["apt-get", "download"] + list(packages), cwd=dest)
    except GuestError:
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "download"] + list(packages), cwd=dest)


def write_newc(root, out):
    """A gzip'ed cpio archive (the 'newc' format the kernel unpacks) of the tree ``root``."""
    ino = [1]
    with gzip.open(out, "wb", compresslevel=6) as f:
        def entry(name, mode, data=b"", nlink=1):
            raw = name.encode() + b"\0"
            fields = (ino[0], mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(raw), 0)
            ino[0] += 1
            f.write(("070701" + "".join("%08X" % v for v in fields)).encode() + raw)
            f.write(b"\0" * ((4 - (110 + len(raw)) % 4) % 4))
            f.write(data + b"\0" * ((4 - len(data) % 4) % 4))
        for d, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(d, root)
            if rel != ".":
                entry(rel, stat.S_IFDIR | 0o755, nlink=2)
            for name in sorted(files):
                path = os.path.join(d, name)
                arc = os.path.normpath(os.path.join(rel, name))
                if os.path.islink(path):
                    entry(arc, stat.S_IFLNK | 0o777, os.readlink(path).encode())
                    continue
                with open(path, "rb") as fh:
                    entry(arc, stat.S_IFREG | (os.stat(path).st_mode & 0o777), fh.read())
        entry("TRAILER!!!", 0)


def _tar_xz(path, members):
    """A tar.xz of ``members`` [(name, kind, data_or_target, mode)], every entry owned by root."""
    with tarfile.open(path, "w:xz") as tar:
        for name, kind, data, mode in members:
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            info.mode = mode
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def write_container_image(busybox, dest):
    """meta.tar.xz and rootfs.tar.xz of the lab's LXD container image (`lxc image import`)."""
    os.makedirs(dest, exist_ok=True)
    meta = ("architecture: x86_64\ncreation_date: {}\nproperties:\n  description: vmnet.ipfabric lab container"
            "\n  os: busybox\n  release: lab\n").format(int(time.time())).encode()
    _tar_xz(os.path.join(dest, "meta.tar.xz"), [("metadata.yaml", "file", meta, 0o644)])
    with open(busybox, "rb") as f:
        bb = f.read()
    with open(os.path.join(HERE, "image", "container-init"), "rb") as f:
        init = f.read()
    members = [(d, "dir", None, 0o755) for d in ("bin", "sbin", "proc", "sys", "dev", "etc", "tmp", "run", "root")]
    members += [("bin/busybox", "file", bb, 0o755), ("bin/sh", "link", "busybox", 0o777),
                ("sbin/init", "file", init, 0o755)]
    _tar_xz(os.path.join(dest, "rootfs.tar.xz"), members)


def build(rootfs, log=print):
    """Put vmlinuz and initrd.img of the lab guest into the image at GUEST_DIR."""
    work = tempfile.mkdtemp(prefix="vmnet-lab-guest-")
    try:
        kpkg = kernel_package()
        download([kpkg, "busybox-static"], work)
        tree = os.path.join(work, "x")
        for deb in glob.glob(os.path.join(work, "*.deb")):
            _run(["dpkg-deb", "-x", deb, tree])
        vmlinuz = glob.glob(os.path.join(tree, "boot", "vmlinuz-*"))
        if len(vmlinuz) != 1:
            raise GuestError("{}: expected one kernel in /boot, found {}".format(kpkg, vmlinuz))
        initrd = os.path.join(work, "initrd")
        for sub in ("bin", "lib/modules", "proc", "sys", "dev", "tmp"):
            os.makedirs(os.path.join(initrd, sub))
        shutil.copy(os.path.join(tree, "bin", "busybox"), os.path.join(initrd, "bin", "busybox"))
        os.symlink("busybox", os.path.join(initrd, "bin", "sh"))
        shutil.copy(os.path.join(HERE, "image", "guest-init"), os.path.join(initrd, "init"))
        os.chmod(os.path.join(initrd, "init"), 0o755)
        for mod in MODULES:
            found = glob.glob(os.path.join(tree, "lib", "modules", "*", "kernel", "**", mod + ".ko"), recursive=True)
            if len(found) != 1:
                raise GuestError("{}: module {}.ko not found (or found twice): {}".format(kpkg, mod, found))
            shutil.copy(found[0], os.path.join(initrd, "lib", "modules"))
        dest = os.path.join(rootfs, GUEST_DIR)
        os.makedirs(dest, exist_ok=True)
        shutil.copy(vmlinuz[0], os.path.join(dest, "vmlinuz"))
        write_newc(initrd, os.path.join(dest, "initrd.img"))
        with open(os.path.join(dest, "kernel-package"), "w") as f:
            f.write(kpkg + "\n")
        log("  guest: {} and a busybox initramfs in /{}".format(kpkg, GUEST_DIR))
        write_container_image(os.path.join(tree, "bin", "busybox"), os.path.join(rootfs, LXD_DIR))
        log("  container: a busybox LXD image in /{}".format(LXD_DIR))
    finally:
        shutil.rmtree(work, ignore_errors=True)
