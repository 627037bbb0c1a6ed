"""conftest - the fixtures every integration test file runs on.

A test file says where it runs with one marker, and nothing outside the
file needs to change when a file is added:

    pytestmark = [pytest.mark.setups("all", sanitize=["nginx", "apache-fcgid"]),
                  pytest.mark.budget(110)]

setups(plain, sanitize=...): the web server set-ups the file's tests run
through in the plain run and in the --sanitize run: "all" (the five of
SETUPS), a list of names, "before" (once, before any set-up, with no web
server), "after" (once, after the last set-up, with every server
stopped), or None (not in that run; sanitize defaults to None).  The
`setup` fixture is parametrised by those names: each set-up starts once
per run, on a fresh database with a fresh admin key, and serves every test
of every file that runs through it (the tests are ordered set-up by
set-up, "before" first and "after" last).  budget(seconds): what the
file's tests may take together through one set-up; a test that would
start later fails, and no test may run past it.  timeout(seconds)
(pytest-timeout; pytest.ini's default 20 s) bounds one test.  The
cluster drills are behind the `cluster` marker (./dev test --cluster).

Fixtures: instance (the "test" instance: MariaDB, its database and users,
the run's log directory), setup (one web server set-up, up), cfg (what a
test file gets of its set-up, with a run id of its own), api (an
apikit.Api for one test), stopped (every server of the instance
stopped).  What starts and stops daemons is the shell library, through
tools/instance.

The run ends with the openapi coverage line, the measurements tests left
(kit.info), the last lines of the servers' logs when a test failed, and
the counts ./dev adds up (--counts-file: "PASSED FAILED").
"""

import os
import shlex
import sys
import threading
import time

import pytest

import apikit
import kit
import poolkit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
INSTANCE = poolkit.TOOL
SETUPS = ("nginx", "apache-fcgid", "apache-proxy", "lighttpd", "caddy")
# What the tests' configuration adds to clientsd.conf: the suite tests
# ?admin_key= too (on here, off by default).
CONF_EXTRA = "api admin_key_query true"


def pytest_addoption(parser):
    g = parser.getgroup("clientsd")
    g.addoption("--build", default="build", help="the build directory (./dev test's)")
    g.addoption("--sanitize", action="store_true",
                help="the sanitizer run: each file's sanitize set-ups")
    g.addoption("--setups", default="",
                help="only these set-ups (names, space or comma separated)")
    g.addoption("--counts-file", help='where to write "PASSED FAILED" at the end')


# ---- which tests run where, in which order ------------------------------------------

def where(node, config):
    """The set-ups (a list), "before", "after" or None (not in this run) of
    a test, from its file's setups marker; "undeclared" without one."""
    m = node.get_closest_marker("setups")
    if m is None:
        return "undeclared"
    value = m.kwargs.get("sanitize") if config.getoption("sanitize") else (
        m.args[0] if m.args else m.kwargs.get("plain"))
    if value in (None, "before", "after"):
        return value
    names = list(SETUPS) if value == "all" else list(value)
    wanted = config.getoption("setups").replace(",", " ").split()
    return [n for n in names if n in wanted] if wanted else names


def pytest_generate_tests(metafunc):
    w = where(metafunc.definition, metafunc.config)
    if isinstance(w, list) and w:
        if "setup" not in metafunc.fixturenames:
            # To be parametrised; _through_its_setup requests it.
            metafunc.fixturenames.append("setup")
        metafunc.parametrize("setup", w, indirect=True, scope="session", ids=w)


def _order(item):
    w = where(item, item.config)
    if w == "before":
        return (0, 0)
    if w == "after":
        return (2, 0)
    if isinstance(w, list):
        return (1, SETUPS.index(item.callspec.params["setup"]))
    return (0, 0)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    keep, drop = [], []
    for item in items:
        w = where(item, config)
        (drop if w is None or w == [] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    keep.sort(key=_order)       # stable: a file's tests stay in their order
    items[:] = keep


# ---- time: a budget per file and set-up, a timeout per test -------------------------

BUDGET_START = {}


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_call(item):
    """Before pytest-timeout reads the test's timeout: no more than what is
    left of the file's budget through this set-up."""
    m = item.get_closest_marker("budget")
    if m is not None:
        key = (item.module.__name__, getattr(item, "callspec", None) and
               item.callspec.params.get("setup"))
        left = m.args[0] - (time.monotonic() - BUDGET_START.setdefault(key, time.monotonic()))
        if left < 1:
            pytest.fail("not run: time budget of %d s used up" % m.args[0], pytrace=False)
        t = item.get_closest_marker("timeout")
        timeout = t.args[0] if t is not None else item.config.getini("timeout")
        if float(timeout or 0) > left:
            item.add_marker(pytest.mark.timeout(int(left)), append=False)
    yield


def pytest_runtest_setup(item):
    if where(item, item.config) == "undeclared":
        pytest.fail("%s declares no set-ups: give it pytestmark = pytest.mark.setups(...)"
                    % item.module.__name__, pytrace=False)


# ---- the instance and the set-ups ---------------------------------------------------

def instance_cmd(*args, env=None, check=True):
    """tools/instance ARGS (poolkit.tool); a failure fails the fixture."""
    try:
        return poolkit.tool(*args, env=env, check=check)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)


class Instance:
    """The "test" instance's paths (tools/instance env), the build, and
    the files the run collects in its log directory."""

    def __init__(self, name, build, sanitize):
        self.name, self.build, self.sanitize = name, build, sanitize
        for k, v in poolkit.instance_env(name).items():
            setattr(self, k[2:].lower() if k.startswith("H_") else k.lower(), v)
        self.secrets_file = os.path.join(self.var, "secrets-used")
        self.coverage_file = os.path.join(self.log, "openapi-coverage.jsonl")
        # The migration config too: admin-key and audit purge are its user's.
        self.ctl = "%s -c %s -m %s" % (os.path.join(build, "app", "clientsctl"),
                                       self.conf, self.mconf)


@pytest.fixture(scope="session")
def build(pytestconfig):
    return os.path.abspath(os.path.join(REPO, pytestconfig.getoption("build")))


INSTANCES = []


@pytest.fixture(scope="session")
def instance(build, pytestconfig):
    """A fresh "test" instance: MariaDB with the database, its users and
    the migrations; every secret the run uses is noted in its
    secrets-used file (apikit, tools/instance reset) for secrets_test.py."""
    inst = Instance("test", build, pytestconfig.getoption("sanitize"))
    INSTANCES.append(inst)
    try:
        instance_cmd("fresh", "test", build, env={"H_CONF_EXTRA": CONF_EXTRA})
        fd = os.open(inst.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.environ["CM_SECRETS_FILE"] = inst.secrets_file
        yield inst
    finally:
        instance_cmd("stop", "test", check=False)
        instance_cmd("stop", "restore", check=False)


class Setup:
    """A web server set-up, up: name, port, the admin key of its database."""

    def __init__(self, inst, name, port):
        self.inst, self.name, self.port = inst, name, port
        self.base_url = "http://127.0.0.1:%d" % port
        with open(inst.keyfile) as f:
            self.admin_key = f.read().strip()
        self.pool = name != "apache-fcgid"      # mod_fcgid spawns clientsd itself


@pytest.fixture(scope="session")
def setup(request, instance):
    """The set-up request.param on a fresh database with a fresh admin key
    (its name is the test's label)."""
    name = request.param
    instance_cmd("reset", "test", instance.build, "test-" + name,
                 env={"H_CONF_EXTRA": CONF_EXTRA})
    try:
        port = int(instance_cmd("setup-start", "test", name, instance.build).split()[-1])
        yield Setup(instance, name, port)
    finally:
        instance_cmd("setup-stop", "test", check=False)


@pytest.fixture(autouse=True)
def _through_its_setup(request):
    """A test of a file that runs through a set-up runs while the set-up
    is up, whether it speaks to it or not."""
    if "setup" in getattr(getattr(request.node, "callspec", None), "params", {}):
        request.getfixturevalue("setup")


@pytest.fixture(scope="session")
def stopped(instance):
    """The instance with every server stopped (the tests of the logs run
    last, on logs nothing writes to any more)."""
    instance_cmd("stop", "test", check=False)
    instance_cmd("stop", "restore", check=False)
    return instance


@pytest.fixture(scope="module")
def cfg(setup):
    """What a test file gets of its set-up: an apikit.Config with a run id
    of its own (the prefix of the ids its tests create) and the commands
    and paths the tests use."""
    inst = setup.inst
    tool = lambda *a: " ".join(shlex.quote(x) for x in (INSTANCE,) + a)  # noqa: E731
    fcgid = not setup.pool
    return apikit.Config(
        setup.base_url, setup.admin_key, setup.name, os.urandom(4).hex(),
        server=setup.name, mode="fcgid" if fcgid else "standalone", sanitize=inst.sanitize,
        ctl=inst.ctl, sql=tool("sql", "test"), db_control=tool("db", "test"),
        upstream_control=tool("upstream", "test"), dump=tool("dump", "test"),
        backup=tool("backup", "test"), restore=tool("restore", inst.build),
        # The 100k-row purge and the backup round trip (~25 s): once.
        heavy=setup.name == "nginx" and not inst.sanitize,
        pool_pidfile=None if fcgid else inst.poolpid, socket=None if fcgid else inst.sock,
        bin=os.path.join(inst.build, "app", "clientsd"), running_bin=inst.bin,
        conf=inst.conf, run_dir=inst.run, log_dir=inst.log, db_pidfile=inst.dbpid,
        keyfile=inst.keyfile,
        access_log=os.path.join(inst.log, "%s-access.log" % (
            "apache" if fcgid else setup.name)),
        clientsd_log=os.path.join(inst.log, "apache-error.log" if fcgid else "clientsd.log"))


@pytest.fixture
def api(cfg, request):
    """An apikit.Api for this test: its name is in every X-Request-Id."""
    name = request.node.originalname
    return apikit.Api(cfg, name[5:] if name.startswith("test_") else name)


# ---- the end of the run ---------------------------------------------------------------

PASSED, FAILED = set(), set()
COLLECT_ERRORS = []


def pytest_collectreport(report):
    if report.failed:
        COLLECT_ERRORS.append(report.nodeid)


def pytest_runtest_logreport(report):
    if report.failed:
        FAILED.add(report.nodeid)
    elif report.when == "call" and report.passed:
        PASSED.add(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if kit.INFO:
        tr.section("measurements (info)")
        for line in kit.INFO:
            tr.write_line(line)
    c = apikit.CONTRACT
    if c.validated:
        tr.section("openapi")
        tr.write_line(c.summary("total"))
        covered = {p for p in c.pairs if p in c.declared}
        tr.write_line("openapi pairs never answered: " + ", ".join(
            sorted("%s %s" % p for p in c.declared - covered)))
    if FAILED or COLLECT_ERRORS:
        for inst in INSTANCES:
            kit.LOGS.extend(os.path.join(inst.log, f) for f in (
                "mariadb.log", "clientsd.log", "nginx-error.log", "apache-error.log",
                "apache-proxy-error.log", "lighttpd-error.log", "caddy-error.log"))
        for path in kit.LOGS:
            if os.path.isfile(path) and os.path.getsize(path):
                tr.section("last lines of %s" % os.path.relpath(path, REPO), sep="-")
                with open(path, errors="replace") as fh:
                    for line in fh.readlines()[-20:]:
                        tr.write_line(line.rstrip("\n"))


EXIT = [0]


def pytest_sessionfinish(session, exitstatus):
    EXIT[0] = int(exitstatus)
    for inst in INSTANCES:
        if apikit.CONTRACT.validated and os.path.isdir(inst.log):
            apikit.CONTRACT.dump(inst.coverage_file, "all")
    path = session.config.getoption("counts_file")
    if path:
        failed = len(FAILED) + len(COLLECT_ERRORS)
        with open(path, "w") as f:
            f.write("%d %d\n" % (len(PASSED - FAILED), failed))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # A test that timed out may have left a thread that never ends (the
    # old runner's threads were daemons): do not wait for it.
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT[0])
