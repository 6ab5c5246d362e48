#!/usr/bin/env python3
"""What the commands a script ran would cost Redis as plain commands.

Reads a `redis-cli MONITOR` capture, keeps the commands run from inside
scripts ("[0 lua]" lines; --skip drops some by name), sends them as one
pipelined stream (redis-cli --pipe) to a redis-server of its own on a free
loopback port, and prints that server's CPU time (INFO cpu, user + sys),
per unit when --per N is given.  Run it three times and compare the lowest
with the script's own figure (bench_replies): the difference is what the
script machinery costs.

    build/bench/bench_replies 30000 &      # then, on its redis-server's port:
    timeout 3 redis-cli -p PORT MONITOR >/tmp/mon.txt
    python3 bench/monitor_replay.py /tmp/mon.txt --skip ZREVRANGEBYSCORE --per TEXTS

TEXTS: the texts the capture holds (its count of "SET" flex:mo: commands).
"""
import argparse
import re
import socket
import subprocess
import sys
import tempfile
import time

TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESC = {'n': 10, 'r': 13, 't': 9, 'a': 7, 'b': 8, '"': 34, '\\': 92}


def unescape(s):
    """MONITOR's quoting (sdscatrepr) back to bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == '\\':
            if s[i + 1] == 'x':
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
            else:
                out.append(ESC[s[i + 1]])
                i += 2
        else:
            out += s[i].encode('utf-8')
            i += 1
    return bytes(out)


def free_port():
    for port in range(23000, 32000):
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) != 0:
                return port
    sys.exit('monitor_replay: no free port')


def cpu(port):
    info = subprocess.run(['redis-cli', '-p', str(port), 'INFO', 'cpu'], capture_output=True,
                          text=True, check=True).stdout
    return sum(float(l.split(':')[1]) for l in info.splitlines()
               if l.startswith(('used_cpu_user:', 'used_cpu_sys:')))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('capture')
    ap.add_argument('--skip', default='', help='command names to leave out, comma-separated')
    ap.add_argument('--per', type=int, default=0, help='report microseconds per this many units')
    a = ap.parse_args()
    skip = {s.upper() for s in a.skip.split(',') if s}
    n = 0
    with open(a.capture, encoding='utf-8', errors='surrogateescape') as f, \
            tempfile.NamedTemporaryFile(suffix='.resp') as out:
        for line in f:
            if '[0 lua]' not in line:
                continue
            args = [unescape(t) for t in TOKEN.findall(line)]
            if not args or args[0].decode('latin-1').upper() in skip:
                continue
            out.write(b'*%d\r\n' % len(args))
            for x in args:
                out.write(b'$%d\r\n%s\r\n' % (len(x), x))
            n += 1
        out.flush()
        port = free_port()
        srv = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                                '--save', '', '--appendonly', 'no'],
                               stdout=subprocess.DEVNULL)
        try:
            for _ in range(50):
                if subprocess.run(['redis-cli', '-p', str(port), 'PING'],
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            c0 = cpu(port)
            with open(out.name, 'rb') as resp:
                subprocess.run(['redis-cli', '-p', str(port), '--pipe'], stdin=resp,
                               stdout=subprocess.DEVNULL, check=True)
            used = cpu(port) - c0
        finally:
            srv.terminate()
            srv.wait()
    print(f'{n} commands, Redis CPU {used:.3f} s', end='')
    if a.per:
        print(f', {used / a.per * 1e6:.2f} us per unit ({a.per})', end='')
    print()


if __name__ == '__main__':
    main()
