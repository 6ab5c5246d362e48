#!/usr/bin/env python3
"""A TCP proxy in front of a redis-server for tests/integ/test_replies.c: the
first EXEC its client sends is held until everything before it has reached
Redis, then the server's state is changed on a connection of the proxy's
own (oom: maxmemory 1; readonly: REPLICAOF a port nobody listens on), then
the EXEC goes on: Redis refuses it as it runs ("EXECABORT Transaction
discarded because of: OOM ..."), the case a changed state between the
queued commands and EXEC makes.

Usage: exec_proxy.py LISTEN_PORT REDIS_PORT oom|readonly"""
import socket
import sys
import threading
import time

LPORT, RPORT, ACTION = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def command(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a.encode())
    return out


def change_state():
    s = socket.create_connection(("127.0.0.1", RPORT))
    if ACTION == "oom":
        s.sendall(command("CONFIG", "SET", "maxmemory", "1"))
    else:
        s.sendall(command("REPLICAOF", "127.0.0.1", "1"))
    s.recv(100)
    s.close()


def pump(src, dst, hold_exec):
    buf = b""
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        if not hold_exec:
            dst.sendall(data)
            continue
        buf += data
        at = buf.find(EXEC)
        if at < 0:
            # keep what may be the start of an EXEC cut between two reads
            keep = 0
            for k in range(min(len(EXEC) - 1, len(buf)), 0, -1):
                if EXEC.startswith(buf[-k:]):
                    keep = k
                    break
            dst.sendall(buf[: len(buf) - keep])
            buf = buf[len(buf) - keep :]
            continue
        dst.sendall(buf[:at])
        time.sleep(0.3)  # (Redis has queued what came before)
        change_state()
        dst.sendall(buf[at:])
        buf, hold_exec = b"", False


listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", LPORT))
listener.listen(4)
while True:
    client, _ = listener.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", RPORT))
    except OSError:
        client.close()
        continue
    threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
    threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
