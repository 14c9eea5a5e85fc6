# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files the modules and agents own on a host: read one (None when it is not there), keep one
atomically (a temporary file in the same directory, fsync, then rename). Standard library only."""
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import grp
import os
import tempfile


def read_text(path):
    """The file's text, or None when it cannot be read (absent, a directory, no permission)."""
    try:
        with open(path) as f:
            return f.read()
    except (IOError, OSError):
        return None


def write_atomic(path, text, mode=0o644, gid=None):
    """Replace ``path`` by ``text`` atomically: a temporary file in the same directory, fsync, ``mode``
    (and owner root, group ``gid`` when given), then a rename; a reader sees the old file or the new one."""
    d = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if gid is not None:
            os.chown(tmp, 0, gid)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def keep_file(path, text, group):
    """Write ``text`` to ``path`` atomically: mode 0640, owner root, ``group`` (root when it does not
    exist). A missing directory is made 0750 with the same group."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        gid = 0
    d = os.path.dirname(path) or '.'
    if not os.path.isdir(d):
        os.makedirs(d, 0o750)
        os.chown(d, 0, gid)
    write_atomic(path, text, 0o640, gid)
