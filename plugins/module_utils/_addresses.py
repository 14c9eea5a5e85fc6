# -*- coding: utf-8 -*-
# Copyright (c) vmnet.ipfabric contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address, prefix and pool helpers shared by the node modules (stdlib only, Python 3.6+)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import ipaddress


class AddressError(ValueError):
    """Bad address input; the message names the field and the reason."""


def _text(value):
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    return str(value).strip()


def host_address(value, version, field):
    """Normalize a VM address ('a.b.c.d', 'a.b.c.d/32', '2001:db8::1', '.../128') to 'ADDR/LEN'.

    ``version`` is 4 or 6. Raises AddressError naming ``field``.
    """
    text = _text(value)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise AddressError('%s: %r is not a valid IPv%d address (%s)' % (field, text, version, e))
    if net.version != version:
        raise AddressError('%s: %r is an IPv%d address, expected IPv%d' % (field, text, net.version, version))
    if net.prefixlen != net.max_prefixlen:
        raise AddressError('%s: %r must be a single address (/%d), not a /%d'
                           % (field, text, net.max_prefixlen, net.prefixlen))
    addr = net.network_address
    for attr, what in (('is_unspecified', 'unspecified'), ('is_loopback', 'loopback'),
                       ('is_multicast', 'multicast'), ('is_link_local', 'link-local')):
        if getattr(addr, attr):
            raise AddressError('%s: %r is a %s address and cannot be a VM address' % (field, text, what))
    return str(net)


def prefix(value, field):
    """Normalize a prefix for a BGP network statement; a plain address becomes /32 or /128."""
    text = _text(value)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise AddressError('%s: %r is not a valid prefix (%s)' % (field, text, e))
    return net


def pools(values, field='pools'):
    out = []
    for i, v in enumerate(values or []):
        text = _text(v)
        try:
            out.append(ipaddress.ip_network(text, strict=True))
        except ValueError as e:
            raise AddressError('%s[%d]: %r is not a valid CIDR (%s)' % (field, i, text, e))
    return out


def subnet_of(net, pool):
    """``net`` lies inside ``pool`` (Python 3.6 has no ip_network.subnet_of)."""
    if net.version != pool.version:
        return False
    return (net.prefixlen >= pool.prefixlen
            and int(net.network_address) & int(pool.netmask) == int(pool.network_address))


def in_pools(net, pool_list):
    return any(subnet_of(net, p) for p in pool_list)


def gateway_ipv4(value, field='gateway_ipv4'):
    text = _text(value)
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError as e:
        raise AddressError('%s: %r is not a valid IPv4 address (%s)' % (field, text, e))
    if addr.is_unspecified or addr.is_multicast:
        raise AddressError('%s: %r cannot be a gateway address' % (field, text))
    return str(addr)


def gateway_ipv6(value, field='gateway_ipv6'):
    text = _text(value)
    try:
        addr = ipaddress.IPv6Address(text)
    except ValueError as e:
        raise AddressError('%s: %r is not a valid IPv6 address (%s)' % (field, text, e))
    if addr.is_unspecified or addr.is_multicast:
        raise AddressError('%s: %r cannot be a gateway address' % (field, text))
    return str(addr)


def mac_address(value, field='gateway_mac'):
    text = _text(value).lower().replace('-', ':')
    parts = text.split(':')
    if len(parts) != 6 or not all(len(p) == 2 and all(c in '0123456789abcdef' for c in p) for p in parts):
        raise AddressError('%s: %r is not a MAC address (expected xx:xx:xx:xx:xx:xx)' % (field, text))
    first = int(parts[0], 16)
    if first & 1:
        raise AddressError('%s: %r is a multicast MAC address' % (field, text))
    if text == '00:00:00:00:00:00':
        raise AddressError('%s: %r is the all-zero MAC address' % (field, text))
    return text
