"""flex.v1.Job and JobBatch (proto/flex.proto) written by hand, for tests
that put entries on flex:jobs that flexctl would not write (a batch too big,
a bad job inside a batch).  Only the fields the tests use."""
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(num, data):
    if isinstance(data, int):
        return varint(num << 3) + varint(data)
    data = data.encode() if isinstance(data, str) else data
    return varint(num << 3 | 2) + varint(len(data)) + data


def job(jid, location, phone, body, patient="p"):
    """A message job (type 1) with a body."""
    return (field(1, 1) + field(2, jid) + field(3, location) + field(4, patient) +
            field(5, phone) + field(8, body))


def auto_reply(jid, location, phone):
    """An optout_confirm job with reply_to (field 20): flexd's own field."""
    return (field(1, 1) + field(2, jid) + field(3, location) + field(4, "p") +
            field(5, phone) + field(6, "optout_confirm") + field(20, "mo:1-x"))


def batch(jobs):
    return b"".join(field(1, j) for j in jobs)


if __name__ == "__main__" and sys.argv[1] == "reply_to":
    # jobpb.py reply_to ID LOCATION PHONE: one Job setting reply_to
    sys.stdout.buffer.write(auto_reply(sys.argv[2], sys.argv[3], sys.argv[4]))
elif __name__ == "__main__":
    # jobpb.py PREFIX COUNT LOCATION: a JobBatch of COUNT jobs on stdout
    prefix, count, loc = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.stdout.buffer.write(batch(
        [job(f"{prefix}-{i}", loc, f"+1202555{7000 + i:04d}", "Your cleaning is due") for i in range(count)]))
