# A TCP proxy on loopback for the integration tests: proxy.py TARGET_PORT DIR
# [drop N] [hold N].  Listens on a free port (written to DIR/proxy.port) and
# passes every connection through to 127.0.0.1:TARGET_PORT.  Optionally, the
# first connection that sends SSCAN (flexd loading its opt-out filter) is
# closed at its Nth SSCAN (drop N: DIR/dropped appears), and the next one
# that scans is held at its Nth until DIR/go exists (hold N: DIR/held
# appears).  SIGSTOP on the proxy freezes every connection (a hung network).
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


def pipe(src, dst, upstream):
    n = 0
    try:
        while True:
            b = src.recv(65536)
            if not b:
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
