#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: frr_bgp
short_description: Read BGP state from FRR, or wait until it is as expected
version_added: 0.2.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - "Reads the BGP state of the host's FRR (default VRF, IPv4 and IPv6 unicast) and returns it normalized: the
    sessions, optionally the BGP table (RIB) and the BGP routes zebra installed. The one reader of BGP state in
    this collection; C(playbooks/verify.yml), C(playbooks/node_add.yml) and the molecule scenarios use it."
  - "Everything is read with one C(vtysh -c CMD -c CMD ...) run (an argument list, never a shell): C(show bgp
    summary json) always; with O(rib) C(show bgp ipv4 unicast json) and C(show bgp ipv6 unicast json), or with
    O(prefixes) C(show bgp ipvX unicast PREFIX json) per prefix (up to 64 per family, more read the whole table);
    with O(routes) C(show ip route bgp json) and C(show ipv6 route bgp json), or C(show ip route PREFIX json) per
    prefix."
  - With O(wait), reads every O(interval) seconds until the condition holds, for at most O(timeout)
    seconds. When it gives up it fails with a message that says what it waited for, what it saw last (per
    peer, per prefix) and the likely cause, and returns the state of the last read.
  - Changes nothing, ever. Bad input (an address that is not one, an unknown address family, a negative
    timeout, a wait without what it needs) fails before any command runs, naming the field.
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
    details:
      - Only reads; check mode runs it the same way, including O(wait).
  diff_mode:
    support: none
    details:
      - Changes nothing, so there is nothing to show.
  idempotent:
    support: full
    details:
      - Only reads; C(changed) is always false.
options:
  state:
    description:
      - "V(gathered) is the only state: the module reads and never changes FRR."
    type: str
    choices: [gathered]
    default: gathered
  afi:
    description:
      - The address families to read (unicast). Every address in O(peers), O(nexthops) and O(prefixes) must
        be of one of them.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  rib:
    description:
      - Also read the BGP table of each family in O(afi) (all of it, or only O(prefixes)) and return it as
        RV(rib). Implied by O(wait=best_path) and O(wait=absent).
    type: bool
    default: false
  routes:
    description:
      - Also read the BGP routes zebra selected (what the host forwards with, e.g. on a core gateway) and
        return them as RV(routes). Implied by O(wait=installed).
    type: bool
    default: false
  prefixes:
    description:
      - Only these prefixes of the table and the routes; the prefixes of O(wait). A plain address is a /32
        or /128; host bits set is an error.
    type: list
    elements: str
    default: []
  peers:
    description:
      - "Peer addresses. O(wait=established) waits for a session to each, in the family of its address (an IPv4
        peer in IPv4 unicast, an IPv6 peer in IPv6 unicast). O(wait=best_path) wants the best path received from
        one of them (on a route reflector: the node's underlay addresses). O(wait=absent) with peers waits only
        until no path from them is left."
    type: list
    elements: str
    default: []
  nexthops:
    description:
      - Next-hop addresses. O(wait=best_path) wants the best path's next hop among them (on a core gateway,
        whose paths come from the route reflectors, the node's underlay addresses); O(wait=installed) wants the
        installed route via one of them; O(wait=absent) with next hops waits until no path via them is left.
    type: list
    elements: str
    default: []
  wait:
    description:
      - The condition to wait for. Without it, the module reads once.
      - V(established) every session to O(peers) is Established.
      - V(best_path) for every prefix of O(prefixes), the best path comes from one of O(peers) (and, if given,
        via one of O(nexthops)).
      - V(installed) for every prefix of O(prefixes), a BGP route is installed in the kernel (via one of
        O(nexthops), if given).
      - "V(absent) no prefix of O(prefixes) has a path in the BGP table (with O(peers) or O(nexthops): no path
        from or via them)."
    type: str
    choices: [established, best_path, installed, absent]
  timeout:
    description:
      - Seconds to wait at most (with O(wait)). V(0) reads once and fails if the condition does not hold.
    type: float
    default: 60
  interval:
    description:
      - Seconds between two reads (with O(wait)); more than 0.
    type: float
    default: 2
notes:
  - Only valid paths are returned (FRR neither uses nor advertises the others, e.g. one whose next hop is
    unreachable, or a network statement without its route while import-check is on).
  - Sessions of other address families (EVPN) and of VRFs are not read.
requirements:
  - FRR 7.2 or later with vtysh (the JSON is FRR 8.4's; 7.x prints the same keys for what is read here)
seealso:
  - module: vmnet.ipfabric.frr_network
  - module: vmnet.ipfabric.fabric_check
'''

EXAMPLES = r'''
- name: Read the sessions, the BGP table and the installed BGP routes
  vmnet.ipfabric.frr_bgp:
    rib: true
    routes: true
  register: bgp

- name: Wait until the sessions to both route reflectors are Established (a new node)
  vmnet.ipfabric.frr_bgp:
    wait: established
    peers: [172.16.0.2, 172.16.0.3, "fd0c:172:16::2", "fd0c:172:16::3"]
    timeout: 120

- name: Wait until every route reflector's best path for a VM is from the target node (a migration)
  vmnet.ipfabric.frr_bgp:
    wait: best_path
    prefixes: [198.51.100.10, "2001:db8:100::a"]
    peers: [172.16.0.12, "fd0c:172:16::12"]
    timeout: 60
    interval: 1
  delegate_to: "{{ item }}"
  loop: "{{ groups['route_reflectors'] }}"

- name: Wait until the core gateway forwards a VM's address to node2
  vmnet.ipfabric.frr_bgp:
    wait: installed
    prefixes: [198.51.100.10]
    nexthops: [172.16.0.12]

- name: Wait until a deleted VM's prefixes are gone from a route reflector
  vmnet.ipfabric.frr_bgp:
    wait: absent
    prefixes: [198.51.100.10, "2001:db8:100::a"]
'''

RETURN = r'''
sessions:
  description: Every session of the families in O(afi), sorted by family and peer address.
  returned: when FRR could be read
  type: list
  elements: dict
  contains:
    peer:
      description: The peer's address.
      type: str
      sample: fd0c:172:16::2
    afi:
      description: V(ipv4) or V(ipv6) (unicast).
      type: str
      sample: ipv6
    state:
      description: FRR's session state (V(Established), V(Active), V(Connect), V(Idle), V(Idle (Admin)), ...).
      type: str
      sample: Established
    hostname:
      description: The peer's hostname from its BGP hostname capability (null until the session came up).
      type: str
      sample: rr1
    prefixes_received:
      description: Prefixes received from the peer in this family.
      type: int
      sample: 2
    prefixes_sent:
      description: Prefixes announced to the peer in this family (FRR's C(pfxSnt)).
      type: int
      sample: 1
    uptime:
      description: Seconds since the session was established; null while it is not.
      type: int
      sample: 3600
    connections_established:
      description: How often the session came up since bgpd started.
      type: int
      sample: 1
    connections_dropped:
      description: How often it went down since bgpd started.
      type: int
      sample: 0
speakers:
  description: Per family in O(afi) that has a session, this speaker's router-id and AS.
  returned: when FRR could be read
  type: dict
  sample: {ipv4: {router_id: 172.16.0.2, asn: 65000}}
rib:
  description:
    - Per family in O(afi), the BGP table (only O(prefixes), if given; an absent prefix has no key), prefix to
      its valid paths, each C({peer, nexthop, best, local_preference, local}). C(peer) is null and C(local)
      true for a path originated here; C(nexthop) is the first next hop that is not link-local.
  returned: with O(rib), O(wait=best_path) or O(wait=absent), when FRR could be read
  type: dict
  sample:
    ipv4:
      198.51.100.10/32:
        - {peer: 172.16.0.11, nexthop: 172.16.0.11, best: true, local_preference: 100, local: false}
        - {peer: 172.16.0.12, nexthop: 172.16.0.12, best: false, local_preference: 50, local: false}
    ipv6: {}
routes:
  description:
    - "Per family in O(afi), the BGP routes zebra selected (only O(prefixes), if given), prefix to C({nexthops,
      installed}): next hops that are not link-local, and whether the route is in the kernel."
  returned: with O(routes) or O(wait=installed), when FRR could be read
  type: dict
  sample: {ipv4: {198.51.100.10/32: {nexthops: [172.16.0.11], installed: true}}, ipv6: {}}
commands:
  description: The vtysh commands of one read, in order (one C(vtysh -c ... -c ...) run).
  returned: always
  type: list
  elements: str
  sample: [show bgp summary json, show bgp ipv4 unicast 198.51.100.10/32 json]
wait:
  description: With O(wait), how it went.
  returned: with O(wait)
  type: dict
  contains:
    condition:
      description: O(wait).
      type: str
      sample: best_path
    met:
      description: Whether the condition held.
      type: bool
      sample: true
    seconds:
      description: Seconds from the first read to the last.
      type: float
      sample: 4.1
    reads:
      description: How many times FRR was read.
      type: int
      sample: 3
    seen:
      description: What the last read showed, one line per peer or prefix.
      type: list
      elements: str
      sample: ["198.51.100.10/32: best path from 172.16.0.12 (node2) (local-preference 50)"]
'''

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', choices=['gathered'], default='gathered'),
            afi=dict(type='list', elements='str', choices=list(_bgp_state.AFIS), default=list(_bgp_state.AFIS)),
            rib=dict(type='bool', default=False),
            routes=dict(type='bool', default=False),
            prefixes=dict(type='list', elements='str', default=[]),
            peers=dict(type='list', elements='str', default=[]),
            nexthops=dict(type='list', elements='str', default=[]),
            wait=dict(type='str', choices=list(_bgp_state.WAIT_CONDITIONS)),
            timeout=dict(type='float', default=60),
            interval=dict(type='float', default=2),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        req = _bgp_state.check_request(afi=p['afi'], rib=p['rib'], routes=p['routes'], prefixes=p['prefixes'],
                                       peers=p['peers'], nexthops=p['nexthops'], wait=p['wait'],
                                       timeout=p['timeout'], interval=p['interval'])
    except _bgp_state.BgpInputError as exc:
        module.fail_json(msg=str(exc), changed=False, commands=[])
    vtysh = module.get_bin_path('vtysh', required=True, opt_dirs=['/usr/bin', '/usr/sbin'])

    def run(argv):
        return module.run_command(argv)

    try:
        result = _bgp_state.gather(req, run, vtysh=vtysh, me=socket.gethostname() or 'this host')
    except _bgp_state.WaitTimeout as exc:
        module.fail_json(msg=exc.message, changed=False, **exc.result)
    except _bgp_state.BgpReadError as exc:
        module.fail_json(msg=str(exc), changed=False, commands=[c[3] for c in _bgp_state.commands(req)])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
