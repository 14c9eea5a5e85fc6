# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print what the fabric does for the given VMs, read from the lab hosts themselves:
VM, node, hypervisor, address, interface, next hop on core1, ping from inet1.
Exit 1 if any VM is unreachable. A KVM guest boots for a few seconds under qemu's TCG: each ping
check waits (bounded) for the first answer."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fabric  # noqa: E402

BOOT_WAIT = 120   # seconds a guest may take to answer (TCG on a busy 2-core machine)


def hypervisor(node, vm):
    if fabric.HYPERVISOR.get(node) == "kvm":
        return "kvm: libvirt domain {}".format(fabric.domstate(node, vm) or "missing")
    return "lxd: container {}".format("running" if vm in fabric.lab_vms(node) else "missing")


def main(vms):
    rows, bad = [], 0
    found = {vm: fabric.find_vm(vm) for vm in vms}
    reach = {}
    for vm, node in found.items():
        v4, v6 = fabric.vm_addresses(node, vm) if node else (None, None)
        reach[vm] = (v4, v6, bool(v4) and fabric.wait_reachable(v4, BOOT_WAIT),
                     bool(v6) and fabric.wait_reachable(v6, BOOT_WAIT))
    routes4 = fabric.core_routes("ipv4")
    for vm, node in found.items():
        v4, v6, ok4, ok6 = reach[vm]
        iface = fabric.vm_interface(node, vm) if node else None
        hops4 = routes4.get("{}/32".format(v4), []) if v4 else []
        nh = ",".join("{} ({})".format(h, fabric.NODE_BY_UNDERLAY.get(h, "?")) for h in hops4) or "-"
        ok = ok4 and (ok6 or not v6)
        bad += 0 if ok else 1
        rows.append((vm, node or "-", hypervisor(node, vm) if node else "-", v4 or "-", v6 or "-", iface or "-", nh,
                     "ok" if ok4 else "FAILED", ("ok" if ok6 else "FAILED") if v6 else "-"))
    head = ("VM", "NODE", "HYPERVISOR", "ADDRESS", "IPV6", "INTERFACE", "NEXT HOP ON CORE1", "PING v4", "PING v6")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print("{} of {} VMs reachable from inet1".format(len(rows) - bad, len(rows)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
