#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This file holds the documentation only; the code is the action plugin plugins/action/fabric_check.py.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: fabric_check
short_description: Cross-check IPAM, nodes, route reflectors and core gateways of the IP fabric
version_added: 0.1.0
author:
  - vmnet.ipfabric developers (@vmnet)
description:
  - Takes what C(playbooks/verify.yml) read from every host of the fabric and the IPAM allocations, and
    returns a list of findings C({severity, kind, where, prefix, vm, detail}).
  - "On the nodes: the VM interfaces (M(vmnet.ipfabric.vm_interface) with O(vmnet.ipfabric.vm_interface#module:state=gathered))
    and their desired state file, the kernel routes, the C(network) statements
    (M(vmnet.ipfabric.frr_network) with O(vmnet.ipfabric.frr_network#module:state=gathered)), the BGP sessions and the BGP RIB.
    On the route reflectors: the sessions and the routes received from each node. On the core gateways
    (FRR flavour): the sessions and the installed BGP routes. A Junos core gateway is not read; it gets an
    C(info) finding C(core_not_checked)."
  - "Finding kinds (severity C(error) unless noted): C(session_down), C(session_missing),
    C(missing_kernel_route), C(missing_interface), C(missing_announcement) (no network statement, not
    announced, not received by an RR, not installed on the core; C(warning) on an RR whose session to the
    node is down), C(stale_announcement) (network statement or route for a prefix no VM has there),
    C(duplicate_announcement) (a prefix announced from two nodes, or received by an RR from two next hops),
    C(duplicate_vm), C(nexthop_mismatch) (the core routes a VM prefix to a node that does not host it),
    C(orphan_allocation), C(vm_without_allocation), C(allocation_mismatch), C(ipam_problem),
    C(host_unreachable), C(gather_failed), C(core_not_checked) (C(info))."
  - With O(report_dir), writes C(report.md), C(report.html) (with the picture inline), C(fabric.svg) (core
    gateways, route reflectors, nodes with their VMs, sessions coloured by state) and C(findings.json).
  - Fails, after the report is written, when there is a finding of the severity given by O(fail_on).
  - Runs on the controller. See docs/verify.md.
extends_documentation_fragment:
  - vmnet.ipfabric.attributes
attributes:
  check_mode:
    support: full
    details:
      - In check mode the findings are computed and the report paths returned, but no file is written.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Only the report files are written; the hosts are not changed.
  platform:
    support: full
    platforms: controller
    description: Runs on the controller.
options:
  gathered:
    description:
      - One entry per host that could be read, as C(verify.yml) builds it. Keys C(host), C(role)
        (V(node), V(route_reflector), V(core_gateway)), C(addresses) (underlay addresses), C(flavour), C(note),
        C(bgp) (the result of M(vmnet.ipfabric.frr_bgp) with O(vmnet.ipfabric.frr_bgp#module:rib=true), and on a
        core gateway O(vmnet.ipfabric.frr_bgp#module:routes=true); a failed one becomes a C(gather_failed)
        finding), and for nodes C(interfaces), C(desired) (the parsed C(vm_interfaces.json)), C(networks), C(routes)
        (loop results of C(ip -json -4/-6 route show table main)), C(failed_msg).
      - A host of O(nodes), O(route_reflectors) or O(core_gateways) without an entry is reported as
        C(host_unreachable).
    type: list
    elements: dict
    required: true
  nodes:
    description: The nodes of the design. Default is the group C(ipfabric_nodes).
    type: list
    elements: str
  route_reflectors:
    description: The route reflectors. Default is the group C(route_reflectors).
    type: list
    elements: str
  core_gateways:
    description: The core gateways. Default is the group C(core_gateways).
    type: list
    elements: str
  addresses:
    description:
      - Host name to its underlay addresses (BGP neighbor addresses and next hops). Default is each host's
        C(ipfabric_underlay_ipv4) and C(ipfabric_underlay_ipv6); the C(addresses) of O(gathered) are added.
    type: dict
  pools:
    description: CIDRs of the pools; routes and statements outside them are ignored. Default from C(ipfabric_pools).
    type: list
    elements: str
  allocations:
    description:
      - The IPAM allocations, as returned by M(vmnet.ipfabric.ipam_audit) (its RV(vmnet.ipfabric.ipam_audit#module:by_owner)
        dict, its RV(vmnet.ipfabric.ipam_audit#module:allocations) list, or its whole result). Without it the IPAM
        checks are skipped.
    type: raw
  ipam_problems:
    description: IPAM store inconsistencies to report (RV(vmnet.ipfabric.ipam_audit#module:store_problems)).
    type: list
    elements: str
    default: []
  report_dir:
    description: Directory for C(report.md), C(report.html), C(fabric.svg) and C(findings.json) (created if needed).
    type: path
  title:
    description: Title of the report and the picture.
    type: str
    default: vmnet.ipfabric fabric
  fail_on:
    description: Fail when there is a finding of this severity (or worse); V(never) only reports.
    type: str
    choices: [error, warning, never]
    default: error
seealso:
  - module: vmnet.ipfabric.ipam_audit
  - module: vmnet.ipfabric.vm_interface
  - module: vmnet.ipfabric.frr_network
'''

EXAMPLES = r'''
- name: Cross-check the fabric and write the report
  vmnet.ipfabric.fabric_check:
    gathered: >-
      {{ groups['all'] | map('extract', hostvars) | selectattr('verify_gathered', 'defined')
         | map(attribute='verify_gathered') | list }}
    allocations: "{{ ipam.by_owner }}"
    report_dir: /var/tmp/fabric-report

- name: Only report, never fail
  vmnet.ipfabric.fabric_check:
    gathered: "{{ my_gathered }}"
    fail_on: never
  register: fabric
'''

RETURN = r'''
findings:
  description: Every finding, errors first.
  returned: always
  type: list
  elements: dict
  contains:
    severity:
      description: V(error), V(warning) or V(info).
      type: str
      sample: error
    kind:
      description: What is wrong (see the description).
      type: str
      sample: missing_kernel_route
    where:
      description: The host, the session (like C(rr1 - node1 (ipv4\))) or V(ipam).
      type: str
      sample: node1
    prefix:
      description: The prefix concerned, if any.
      type: str
      sample: 198.51.100.10/32
    vm:
      description: The VM concerned, if any.
      type: str
      sample: web1
    detail:
      description: What was seen.
      type: str
      sample: no route 198.51.100.10/32 dev web1_net0 in the kernel
counts:
  description: Number of findings per severity.
  returned: always
  type: dict
  sample: {error: 1, warning: 0, info: 0}
verdict:
  description: V(PASSED), V(PASSED with warnings) or V(FAILED).
  returned: always
  type: str
  sample: PASSED
fabric:
  description: What the picture shows, C({sessions, nodes, route_reflectors, core_gateways}).
  returned: always
  type: dict
report:
  description: Paths of the report files (C(markdown), C(html), C(svg), C(json)); empty without O(report_dir).
  returned: always
  type: dict
  sample: {markdown: reports/report.md, html: reports/report.html, svg: reports/fabric.svg, json: reports/findings.json}
'''
