"""confkit - clientsd.conf files for the pools the suites start themselves.

The suites that run a clientsd of their own (pool, nodes, sandbox,
store, cluster) start from the run's configuration and change a few
keys. Standard library only.
"""


def conf_with(base, sets):
    """The INI text of the file base with {(section, key): value} applied.

    A key already there, commented out or not, is replaced in place (its
    first line; later ones are dropped); a key not there is added at the end
    of its section, and a missing section at the end of the text. A value
    of None drops the key: clientsd's default applies."""
    out, section, done = [], None, set()

    def flush(sec):
        for (s, k), v in sets.items():
            if s == sec and (s, k) not in done and v is not None:
                out.append("%s = %s" % (k, v))
                done.add((s, k))

    with open(base) as f:
        for line in f.read().splitlines():
            st = line.strip()
            if st.startswith("[") and st.endswith("]"):
                flush(section)
                section = st[1:-1].strip()
                out.append(line)
                continue
            name = st.lstrip("#;").strip().split("=", 1)[0].strip() if "=" in st else None
            if name and (section, name) in sets:
                if (section, name) not in done and sets[(section, name)] is not None:
                    out.append("%s = %s" % (name, sets[(section, name)]))
                    done.add((section, name))
                continue
            out.append(line)
    flush(section)
    missing = {}
    for (s, k), v in sets.items():
        if (s, k) not in done and v is not None:
            missing.setdefault(s, []).append("%s = %s" % (k, v))
    for s, lines in missing.items():
        out.append("[%s]" % s)
        out += lines
    return "\n".join(out) + "\n"
