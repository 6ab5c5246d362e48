# A TCP proxy on loopback for the integration tests: proxy.py TARGET_PORT DIR
# [drop N] [hold N].  Listens on a free port (written to DIR/proxy.port) and
# passes every connection through to 127.0.0.1:TARGET_PORT.  Optionally, the
# first connection that sends SSCAN (flexd loading its opt-out filter) is
# closed at its Nth SSCAN (drop N: DIR/dropped appears), and the next one
# that scans is held at its Nth until DIR/go exists (hold N: DIR/held
# appears).  SIGSTOP on the proxy freezes every connection (a hung network).
# exec N: the first EXEC a connection sends is held until what came before it
# has reached Redis, then Redis's state is changed on a connection of the
# proxy's own (N = 1: maxmemory 1; 2: a replica of a port nobody listens on),
# then the EXEC goes on: Redis refuses it as it runs (EXECABORT ... because
# of: OOM / READONLY).
import os, socket, sys, threading, time

target, where = int(sys.argv[1]), sys.argv[2]
opts = dict(zip(sys.argv[3::2], map(int, sys.argv[4::2])))
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(64)
tmpname = os.path.join(where, "proxy.port.tmp")
open(tmpname, "w").write(str(ls.getsockname()[1]))
os.rename(tmpname, os.path.join(where, "proxy.port"))
scanners = []
lock = threading.Lock()


def mark(name):
    open(os.path.join(where, name), "w").close()


EXEC = b"*1\r\n$4\r\nEXEC\r\n"


def change_state(how):
    args = [b"CONFIG", b"SET", b"maxmemory", b"1"] if how == 1 else [b"REPLICAOF", b"127.0.0.1", b"1"]
    s = socket.create_connection(("127.0.0.1", target))
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    s.recv(100)
    s.close()


def pipe(src, dst, upstream):
    n = 0
    held = b""  # exec N: bytes kept back, the start of an EXEC maybe
    watch_exec = upstream and "exec" in opts
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            if watch_exec:
                b, held = held + b, b""
                at = b.find(EXEC)
                if at >= 0:
                    dst.sendall(b[:at])
                    time.sleep(0.3)  # (Redis has queued what came before)
                    change_state(opts["exec"])
                    b, watch_exec = b[at:], False
                else:
                    for k in range(min(len(EXEC) - 1, len(b)), 0, -1):
                        if EXEC.startswith(b[-k:]):
                            b, held = b[:-k], b[-k:]
                            break
            k = b.count(b"SSCAN") if upstream else 0
            if k:
                with lock:
                    if src not in scanners:
                        scanners.append(src)
                    which = scanners.index(src)
                n += k
                if which == 0 and "drop" in opts and n >= opts["drop"]:
                    mark("dropped")
                    break
                hold = opts.get("hold")
                if hold and which == (1 if "drop" in opts else 0) and n >= hold:
                    if not os.path.exists(os.path.join(where, "go")):
                        mark("held")
                        while not os.path.exists(os.path.join(where, "go")):
                            time.sleep(0.02)
            dst.sendall(b)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


while True:
    c, _ = ls.accept()
    try:
        u = socket.create_connection(("127.0.0.1", target))
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, u, True), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, False), daemon=True).start()
