#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: bird_bgp
short_description: Read BGP state from BIRD 2, or wait until it is as expected
version_added: 0.3.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - "Reads the BGP state of the host's BIRD 2 and returns it in the shape M(vmnet.ipfabric.frr_bgp) returns
    (the sessions, optionally the BGP table), so C(playbooks/verify.yml), C(playbooks/node_add.yml) and the
    fabric check read a BIRD node like an FRR one."
  - "Runs C(birdc show status) and C(birdc show protocols all) (argument lists, never a shell); with O(rib)
    also C(birdc show route all) (BIRD's tables: the routes learnt from the kernel and those received from
    the route reflectors) and C(birdc show route export PROTOCOL all) for each BGP protocol (what the export
    filter lets out: this node's announcements)."
  - In RV(rib) a route this node exports to a route reflector is a path with C(local) true (what a C(network)
    statement is on an FRR node); a route received from a route reflector is a path from that peer.
  - With O(wait), reads every O(interval) seconds until the condition holds, for at most O(timeout) seconds;
    when it gives up it fails saying what it waited for, what it saw last and the likely cause.
  - Changes nothing, ever. Bad input fails before any command runs, naming the field.
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
  afi:
    description: The address families to read.
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  rib:
    description: Also read the tables and the exports, returned as RV(rib). Implied by O(wait=best_path) and O(wait=absent).
    type: bool
    default: false
  prefixes:
    description: Only these prefixes of the table; the prefixes of O(wait). A plain address is a /32 or /128.
    type: list
    elements: str
    default: []
  peers:
    description:
      - The route reflectors' addresses (sessions) that O(wait=established) waits for; with O(wait=best_path)
        the peers the best path must come from.
    type: list
    elements: str
    default: []
  nexthops:
    description: With O(wait=best_path), the next hops the best path must have.
    type: list
    elements: str
    default: []
  wait:
    description:
      - V(established) every session to O(peers) is Established; V(best_path) the best path of each of
        O(prefixes) comes from O(peers) or O(nexthops); V(absent) none of O(prefixes) is in the table.
    type: str
    choices: [established, best_path, absent]
  timeout:
    description: With O(wait), the most seconds to wait.
    type: float
    default: 60
  interval:
    description: With O(wait), the seconds between two reads.
    type: float
    default: 2
  birdc:
    description: Path of C(birdc) (found on the PATH and in C(/usr/sbin) when omitted).
    type: path
  socket:
    description: BIRD's control socket, when not the default of the distribution's build.
    type: path
requirements:
  - BIRD 2 with birdc, configured with C(timeformat protocol iso long) for the sessions' C(uptime) in RV(sessions) (the node role does)
seealso:
  - module: vmnet.ipfabric.frr_bgp
  - module: vmnet.ipfabric.bird_config
'''

EXAMPLES = r'''
- name: Wait until the sessions to both route reflectors are Established
  vmnet.ipfabric.bird_bgp:
    wait: established
    peers: [172.16.0.2, 172.16.0.3, "fd0c:172:16::2", "fd0c:172:16::3"]
    timeout: 90

- name: Read what the node announces and receives
  vmnet.ipfabric.bird_bgp:
    rib: true
  register: bgp
'''

RETURN = r'''
sessions:
  description: One per BGP protocol and channel, as M(vmnet.ipfabric.frr_bgp) returns them.
  returned: when BIRD could be read
  type: list
  elements: dict
  sample:
    - {peer: 172.16.0.2, afi: ipv4, state: Established, uptime: 324, prefixes_received: 1, prefixes_exported: 1,
       protocol: rr4_172_16_0_2, hostname: null, connections_established: null, connections_dropped: null}
speakers:
  description: Per family that has a session, this speaker's router-id and AS.
  returned: when BIRD could be read
  type: dict
  sample: {ipv4: {router_id: 172.16.0.13, asn: 65000}}
rib:
  description:
    - Per family, prefix to its paths C({peer, nexthop, best, local_preference, local}); C(local) true for a route
      this node exports (its own announcement), else the route reflector it came from.
  returned: with O(rib), O(wait=best_path) or O(wait=absent), when BIRD could be read
  type: dict
  sample: {ipv4: {198.51.100.1/32: [{peer: null, nexthop: null, best: true, local_preference: 100, local: true}]}}
routes:
  description: Always null (BIRD's installed routes are the kernel's; read them with C(ip route)).
  returned: when BIRD could be read
  type: raw
  sample: null
commands:
  description: The birdc commands of one read, in order.
  returned: always
  type: list
  elements: str
  sample: [show status, show protocols all]
wait:
  description: With O(wait), how it went (C(condition), C(met), C(seconds), C(reads), C(seen)).
  returned: with O(wait)
  type: dict
'''

import socket

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bgp_state
from ansible_collections.vmnet.ipfabric.plugins.module_utils import _bird


def main():
    module = AnsibleModule(
        argument_spec=dict(
            afi=dict(type='list', elements='str', choices=list(_bgp_state.AFIS), default=list(_bgp_state.AFIS)),
            rib=dict(type='bool', default=False),
            prefixes=dict(type='list', elements='str', default=[]),
            peers=dict(type='list', elements='str', default=[]),
            nexthops=dict(type='list', elements='str', default=[]),
            wait=dict(type='str', choices=['established', 'best_path', 'absent']),
            timeout=dict(type='float', default=60),
            interval=dict(type='float', default=2),
            birdc=dict(type='path'),
            socket=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        req = _bgp_state.check_request(afi=p['afi'], rib=p['rib'], prefixes=p['prefixes'], peers=p['peers'],
                                       nexthops=p['nexthops'], wait=p['wait'], timeout=p['timeout'],
                                       interval=p['interval'])
    except _bgp_state.BgpInputError as exc:
        module.fail_json(msg=str(exc), changed=False, commands=[])
    birdc = [p['birdc'] or module.get_bin_path('birdc', required=True, opt_dirs=['/usr/sbin', '/sbin'])]
    if p['socket']:
        birdc += ['-s', p['socket']]

    def run(argv):
        return module.run_command(argv)

    def reader(req_, run_):
        return _bird.read(req_, run_, birdc)

    try:
        result = _bgp_state.gather(req, run, me=socket.gethostname() or 'this host', reader=reader,
                                   unreadable='BIRD could not be read: %s (is bird.service running on this host?)')
    except _bgp_state.WaitTimeout as exc:
        module.fail_json(msg=exc.message, changed=False, **exc.result)
    except _bgp_state.BgpReadError as exc:
        module.fail_json(msg=str(exc), changed=False, commands=getattr(exc, 'commands', []))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
