#!/usr/bin/env python3
"""seqcopy.py — the plainest IMAP→IMAP copier, a peer for bench/ (not part of passeur).

One connection per side, every command waits for its reply: for each selectable source
folder, CREATE the destination folder (separator and personal prefix translated), then per
message UID FETCH (FLAGS INTERNALDATE BODY.PEEK[]) and APPEND it with its flags and date.
TCP_NODELAY on both sockets. No state: run it once into an empty account.

usage: seqcopy.py SRC_HOST:PORT SRC_USER SRC_PASS DST_HOST:PORT DST_USER DST_PASS
"""

import imaplib
import re
import socket
import sys


class Imap(imaplib.IMAP4):
    def _create_socket(self, timeout):
        s = super()._create_socket(timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s


def connect(addr, user, password):
    host, port = addr.rsplit(":", 1)
    c = Imap(host, int(port))
    c.login(user, password)
    return c


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.*)$')


def unquote(s):
    s = s.strip()
    if s.startswith(b'"') and s.endswith(b'"'):
        s = s[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
    return s.decode()


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def folders(c):
    typ, data = c.list()
    out = []
    for line in data:
        if isinstance(line, tuple):  # a name sent as a literal
            head, name = line[0], line[1]
            m = LIST_RE.match(head.rsplit(b" {", 1)[0] + b" x")
            out.append((m.group("attrs").decode(), unquote(m.group("delim")), name.decode()))
            continue
        m = LIST_RE.match(line)
        if m:
            delim = None if m.group("delim") == b"NIL" else unquote(m.group("delim"))
            out.append((m.group("attrs").decode(), delim, unquote(m.group("name"))))
    return out


def namespace(c):
    typ, data = c.namespace()
    m = re.match(rb'\(\("(?P<prefix>[^"]*)" "(?P<delim>[^"]*)"\)', data[0])
    return (m.group("prefix").decode(), m.group("delim").decode()) if m else ("", "/")


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    src = connect(sys.argv[1], sys.argv[2], sys.argv[3])
    dst = connect(sys.argv[4], sys.argv[5], sys.argv[6])
    dprefix, ddelim = namespace(dst)
    copied = 0
    for attrs, sdelim, name in folders(src):
        if "\\noselect" in attrs.lower() or "\\nonexistent" in attrs.lower():
            continue
        parts = name.split(sdelim) if sdelim else [name]
        if parts[0].upper() == "INBOX":
            target = ddelim.join(["INBOX"] + parts[1:])
        else:
            target = dprefix + ddelim.join(parts)
        if target != "INBOX":
            dst.create(quote(target))
        typ, data = src.select(quote(name), readonly=True)
        if int(data[0]) == 0:
            continue
        typ, data = src.uid("SEARCH", None, "ALL")
        for uid in data[0].split():
            typ, data = src.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            meta, body = data[0][0], data[0][1]
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode()
            flags = " ".join(f for f in flags.split() if f.lower() != "\\recent")
            date = re.search(rb'INTERNALDATE "([^"]*)"', meta).group(1).decode()
            dst.append(quote(target), "(" + flags + ")", '"' + date + '"', body)
            copied += 1
    src.logout()
    dst.logout()
    print(f"copied {copied}")


if __name__ == "__main__":
    main()
