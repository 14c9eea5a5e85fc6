# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print what the fabric does for the given VMs, read from the lab hosts themselves:
VM, node, address, interface, next hop on core1, ping from inet1. Exit 1 if any VM is unreachable."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fabric  # noqa: E402


def main(vms):
    routes4, routes6 = fabric.core_routes("ipv4"), fabric.core_routes("ipv6")
    rows, bad = [], 0
    for vm in vms:
        node = fabric.find_vm(vm)
        v4 = v6 = iface = None
        if node:
            v4, v6 = fabric.vm_addresses(node, vm)
            iface = fabric.vm_interface(node, vm)
        hops4 = routes4.get("{}/32".format(v4), []) if v4 else []
        hops6 = routes6.get("{}/128".format(v6), []) if v6 else []
        nh = ",".join("{} ({})".format(h, fabric.NODE_BY_UNDERLAY.get(h, "?")) for h in hops4) or "-"
        ok4 = bool(v4) and fabric.ping("inet1", v4)
        ok6 = bool(v6) and fabric.ping("inet1", v6)
        ok = ok4 and (ok6 or not v6)
        bad += 0 if ok else 1
        rows.append((vm, node or "-", v4 or "-", v6 or "-", iface or "-", nh,
                     "ok" if ok4 else "FAILED", ("ok" if ok6 else "FAILED") if v6 else "-"))
    head = ("VM", "NODE", "ADDRESS", "IPV6", "INTERFACE", "NEXT HOP ON CORE1", "PING v4", "PING v6")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    print("{} of {} VMs reachable from inet1".format(len(rows) - bad, len(rows)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
