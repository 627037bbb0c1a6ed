#!/usr/bin/env python3
"""ini.py - the one editor of clientsd's INI files (clientsd.conf and the
migration user's file), for the shell library (tools/daemons.sh), the
bench and the tests alike.

As a module: conf_with(path, {(section, key): value}) returns the text;
value(path, section, key) reads one value (None when the key is not set).
As a command: `ini.py SRC DST` copies SRC to DST (through DST.new, with
the caller's umask), applying the lines "section key value" read from
standard input (the value is the rest of the line, maybe empty).

Rules: the first `key =` line of the section, commented out (#, ;) or
not, takes the value; any later line of that key in the section is
dropped; a key the section lacks is added at the end of the section (before
the blank lines that end it); a missing section is added at the end.  A
value of None (module only) drops the key: clientsd's default applies.
Standard library only.
"""

import os
import re
import sys

SECTION_RE = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*$")
KEY_RE = re.compile(r"^\s*[#;]?\s*([A-Za-z0-9_]+)\s*=")


def conf_with(base, sets):
    """The INI text of the file base with {(section, key): value} applied."""
    with open(base, encoding="utf-8") as f:
        lines = f.read().splitlines()
    out, section, done = [], None, set()

    def flush(sec):
        # Added keys go before the blank lines that end the section.
        blanks = []
        while out and not out[-1].strip():
            blanks.append(out.pop())
        for (s, k), v in sets.items():
            if s == sec and (s, k) not in done and v is not None:
                out.append("%s = %s" % (k, v))
                done.add((s, k))
        out.extend(blanks)

    for line in lines:
        m = SECTION_RE.match(line)
        if m:
            flush(section)
            section = m.group(1)
            out.append(line)
            continue
        m = KEY_RE.match(line)
        if m and (section, m.group(1)) in sets:
            key = (section, m.group(1))
            if key not in done:
                done.add(key)
                if sets[key] is not None:
                    out.append("%s = %s" % (m.group(1), sets[key]))
            continue
        out.append(line)
    flush(section)
    for s in dict.fromkeys(s for (s, k), v in sets.items()
                           if (s, k) not in done and v is not None):
        out += ["", "[%s]" % s]
        section = s
        flush(s)
    return "\n".join(out) + "\n"


def value(path, section, key):
    """The value of the uncommented `key =` line of [section], or None."""
    cur = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = SECTION_RE.match(line)
            if m:
                cur = m.group(1)
                continue
            name, eq, val = line.partition("=")
            if cur == section and eq and name.strip() == key:
                return val.strip()
    return None


def parse_sets(text):
    """{(section, key): value} of "section key value" lines."""
    sets = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) >= 2:
            sets[(parts[0], parts[1])] = parts[2] if len(parts) == 3 else ""
    return sets


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: ini.py SRC DST <'section key value' lines")
    text = conf_with(argv[1], parse_sets(sys.stdin.read()))
    tmp = argv[2] + ".new"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, argv[2])


if __name__ == "__main__":
    main(sys.argv)
