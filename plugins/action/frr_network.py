# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of vmnet.ipfabric.frr_network: the module runs on the node; options the task leaves out come
from the inventory (plugins/plugin_utils/node_defaults.py)."""
from __future__ import annotations

from ansible_collections.vmnet.ipfabric.plugins.plugin_utils.node_defaults import NodeModuleAction


class ActionModule(NodeModuleAction):
    MODULE = "frr_network"
