# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IPAM's side of the pools: its error type, the pools it allocates from, which pool a task means.

The pool model itself (parsing, validation, address sets) is plugins/plugin_utils/pools.py, shared with
the routing filters and the fabric check. Here the IPAM adds what only it needs: the cluster gateways
(``ipfabric_gateway_ipv4``/``ipv6``, never inside a pool) and its errors as IpamError.
"""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils import pools as pool_model
from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.pools import (
    DEFAULT_GATEWAY_IPV4,
    DEFAULT_GATEWAY_IPV6,
    Pool,
    PoolError,
)


class IpamError(Exception):
    """A user-facing IPAM error: bad input, exhausted pool, conflict. Nothing was changed."""


def parse_pools(raw_pools, gateway_ipv4=DEFAULT_GATEWAY_IPV4, gateway_ipv6=DEFAULT_GATEWAY_IPV6) -> dict[str, Pool]:
    """Validate every pool of the inventory (at least one) against the cluster gateways; by name, in order."""
    try:
        return pool_model.parse_pools(raw_pools, pool_model.cluster_gateways(gateway_ipv4, gateway_ipv6))
    except PoolError as exc:
        raise IpamError(str(exc)) from None


def select_pool(pools: dict[str, Pool], name) -> Pool:
    if name in (None, ""):
        if len(pools) == 1:
            return next(iter(pools.values()))
        raise IpamError(f"pool: several pools are defined ({', '.join(pools)}); say which one with pool=")
    if name not in pools:
        raise IpamError(f"pool: no pool named {name!r} (defined: {', '.join(pools)})")
    return pools[name]
