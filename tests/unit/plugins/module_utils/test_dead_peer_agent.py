# -*- coding: utf-8 -*-
"""The dead-peer agent (module_utils/_dead_peer_agent.py) against a fake bfdd control socket and a
fake vtysh: which BFD status changes flush a peer's stale routes, and how the agent talks bfdd's
protocol. The real bfdd and FRR: tests/lab_tests/test_resilience.py."""

from __future__ import (absolute_import, division, print_function)
from __future__ import annotations
__metaclass__ = type

import json
import os
import socket
import struct
import threading

import pytest

from ansible_collections.vmnet.ipfabric.plugins.module_utils import _dead_peer_agent as agent


def status(peer, state, diag=0, **extra):
    msg = {"op": "status", "ipv6": ":" in peer, "multihop": False, "peer-address": peer,
           "local-address": "172.16.0.2", "state": state, "diagnostics": diag}
    msg.update(extra)
    return msg


def frame(obj, mtype=agent.BMT_NOTIFY):
    body = json.dumps(obj).encode()
    return agent.HEADER.pack(len(body), 0, mtype, 1) + body


def test_subscription_asks_for_peer_state_and_the_current_sessions_in_host_order():
    msg = agent.subscription()
    length, dummy, mtype, version = agent.HEADER.unpack(msg[:8])
    assert (length, mtype, version) == (8, agent.BMT_NOTIFY, 1)
    # bfdd memcpy()s the mask: host byte order
    assert struct.unpack("=Q", msg[8:])[0] == agent.BCM_NOTIFY_PEER_STATE | agent.BCM_NOTIFY_CONFIG


def test_split_messages_keeps_a_partial_frame_for_later():
    data = frame(status("172.16.0.12", "up")) + frame({"status": "ok"}, agent.BMT_RESPONSE)
    messages, rest = agent.split_messages(data[:-5])
    assert [m[0] for m in messages] == [agent.BMT_NOTIFY] and rest == data[len(frame(status("172.16.0.12", "up"))):-5]
    messages, rest = agent.split_messages(rest + data[-5:])
    assert messages == [(agent.BMT_RESPONSE, {"status": "ok"})] and rest == b""


@pytest.mark.parametrize("diag,flush", [
    (1, True),    # control detection time expired: nothing answers, the data plane is gone
    (2, True),    # echo function failed
    (3, False),   # neighbor signaled session down: its bfdd said goodbye (FRR stopping there)
    (7, False),   # administratively down
    (0, False),
])
def test_only_a_timed_out_session_means_a_dead_peer(diag, flush):
    peers = agent.PeerStates()
    assert peers.update(status("172.16.0.12", "up")) is None
    assert peers.update(status("172.16.0.12", "down", diag)) == ("172.16.0.12" if flush else None)


def test_a_peer_already_down_or_never_seen_up_is_not_flushed_again():
    peers = agent.PeerStates()
    assert peers.update(status("172.16.0.12", "down", 1)) is None          # first news of it: down
    assert peers.update(status("172.16.0.12", "down", 1)) is None
    assert peers.update(status("172.16.0.12", "init")) is None
    assert peers.update(status("172.16.0.12", "up")) is None
    assert peers.update(status("172.16.0.12", "down", 1)) == "172.16.0.12"


def test_other_messages_and_other_vrfs_are_ignored():
    peers = agent.PeerStates()
    for msg in ({"op": "add", "peer-address": "172.16.0.12"}, {"status": "ok"}, None, "x",
                status("172.16.0.12", "up", vrf="blue")):
        assert peers.update(msg) is None
    assert peers.update(status("172.16.0.12", "down", 1, vrf="blue")) is None


class FakeVtysh:
    def __init__(self, rc=0, out=""):
        self.calls, self.rc, self.out = [], rc, out

    def flush(self, address):
        self.calls.append(address)
        return self.rc, self.out


def test_handle_flushes_with_one_vtysh_run_and_records_it(capsys):
    vtysh = FakeVtysh()
    a = agent.Agent(vtysh=vtysh, lock_name="vmnet-ipfabric-test-dead-peer.lock")
    a.handle(status("fd0c:172:16::12", "up"), 0)
    a.handle(status("fd0c:172:16::12", "down", 1), 0)
    assert vtysh.calls == ["fd0c:172:16::12"] and [f[0] for f in a.flushed] == ["fd0c:172:16::12"]
    assert "control detection time expired" in capsys.readouterr().out


def test_handle_says_when_the_peer_is_no_bgp_neighbor(capsys):
    vtysh = FakeVtysh(rc=1, out="% Specify remote-as or peer-group commands first")
    a = agent.Agent(vtysh=vtysh, lock_name="vmnet-ipfabric-test-dead-peer.lock")
    a.handle(status("172.16.0.99", "up"), 0)
    a.handle(status("172.16.0.99", "down", 1), 0)
    assert a.flushed == [] and "not a BGP neighbor here" in capsys.readouterr().out


def test_vtysh_toggles_shutdown_in_one_run(tmp_path):
    """The argv: one vtysh, configure, router bgp, shutdown then no shutdown; no shell."""
    log = tmp_path / "argv"
    fake = tmp_path / "vtysh"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n".format(log))
    fake.chmod(0o755)
    rc, dummy = agent.Vtysh(str(fake)).flush("172.16.0.12")
    assert rc == 0
    assert log.read_text().splitlines() == ["-c", "configure terminal", "-c", "router bgp",
                                            "-c", "neighbor 172.16.0.12 shutdown",
                                            "-c", "no neighbor 172.16.0.12 shutdown"]


def test_agent_follows_a_bfdd_socket_and_reconnects(tmp_path):
    """A fake bfdd: answers the subscription, sends the current sessions, a time-out; closes; then a
    second bfdd (FRR restarted) whose first news of the peer must not count as a change."""
    path = str(tmp_path / "bfdd.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(2)
    got = []

    def bfdd():
        for script in ([status("172.16.0.12", "up"), status("172.16.0.12", "down", 1)],
                       [status("172.16.0.13", "down", 1)]):
            conn, dummy = server.accept()
            header = conn.recv(8)
            length = agent.HEADER.unpack(header)[0]
            got.append(conn.recv(length))
            conn.sendall(frame({"status": "ok"}, agent.BMT_RESPONSE) + b"".join(frame(m) for m in script))
            conn.close()

    thread = threading.Thread(target=bfdd, daemon=True)
    thread.start()
    vtysh = FakeVtysh()
    a = agent.Agent(path, vtysh=vtysh, lock_name="vmnet-ipfabric-test-dead-peer.lock")
    a.run(once=3.0)
    thread.join(5)
    server.close()
    assert len(got) == 2 and all(struct.unpack("=Q", g)[0] == 3 for g in got)
    assert vtysh.calls == ["172.16.0.12"]


def test_agent_retries_while_bfdd_is_not_there(tmp_path, capsys):
    a = agent.Agent(str(tmp_path / "missing.sock"), vtysh=FakeVtysh(), lock_name="vmnet-ipfabric-test-dead-peer.lock")
    a.run(once=1.2)
    assert "cannot follow bfdd at" in capsys.readouterr().out


def test_stdlib_only():
    src = open(agent.__file__).read()
    for line in src.splitlines():
        if line.startswith(("import ", "from ")) and "ansible_collections.vmnet" not in line and "__future__" not in line:
            assert line.split()[1].split(".")[0] in {"json", "signal", "socket", "struct", "subprocess", "sys", "time"}, line
    assert os.path.basename(agent.__file__) == "_dead_peer_agent.py"
