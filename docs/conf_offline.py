# -*- coding: utf-8 -*-
# Copyright: vmnet.ipfabric developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Appended by `make docs` to the conf.py that `antsibull-docs sphinx-init` generates.

The build reaches no network: sphinx-init's intersphinx mapping would download the inventories of
docs.python.org, jinja and docs.ansible.com. Instead, the few labels of the Ansible docs that antsibull-docs'
pages refer to (the notes of action plugins, the common return values, the configuration settings) come
from an inventory written here, so they still link to docs.ansible.com.
"""
import os
import zlib

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'
ANSIBLE_LABELS = (
    ('action_plugins', 'plugins/action.html#action-plugins', 'Action plugins'),
    ('common_return_values', 'reference_appendices/common_return_values.html#common-return-values',
     'Return Values'),
    ('ansible_configuration_settings', 'reference_appendices/config.html#ansible-configuration-settings',
     'Ansible Configuration Settings'),
)
ANSIBLE_INVENTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ansible_devel_offline.inv')
with open(ANSIBLE_INVENTORY, 'wb') as inv:
    inv.write(b'# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n'
              b'# The remainder of this file is compressed using zlib.\n')
    inv.write(zlib.compress(''.join('%s std:label -1 %s %s\n' % label for label in ANSIBLE_LABELS).encode('utf-8')))

intersphinx_mapping = {'ansible_devel': (ANSIBLE_DOCS, ANSIBLE_INVENTORY)}

# the Markdown guides (myst-parser): anchors for their headings, so that links to a section resolve
myst_heading_anchors = 3
