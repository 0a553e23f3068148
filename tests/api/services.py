"""Private PostgreSQL and Redis servers for the fault tests (test_faults.py).

Each runs on a free port of 127.0.0.1 with its data in a fresh temporary directory, so a
test can stop, kill or pause it without touching the servers that scripts/test-services
shares between the other tests (and whatever else uses them on this machine). Both die with
the test process (PR_SET_PDEATHSIG), so a run killed by its timeout leaves none behind.

As root, PostgreSQL runs as the "postgres" user (it refuses to run as root); otherwise as
the current user. Nothing here needs the shared servers; the tests still skip, like the
other PostgreSQL and Redis tests, when TT_TEST_PG_URL / TT_TEST_REDIS_URL are unset.
"""
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from harness import Failure, free_port, short

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup(uid=None, gid=None):
    """preexec_fn: drops to @uid/@gid when given, then asks for SIGKILL when the test process
    dies. The order matters: a change of credentials clears the parent-death signal."""

    def setup():
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return setup


def _pg_bindir():
    """The directory of initdb, postgres and pg_ctl, or None."""
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                             timeout=10)
        d = out.stdout.strip()
        if out.returncode == 0 and os.path.exists(os.path.join(d, "initdb")):
            return d
    except (OSError, subprocess.SubprocessError):
        pass
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def postgres_missing():
    """Why no private PostgreSQL can be started here, or None."""
    d = _pg_bindir()
    if not d:
        return "PostgreSQL's server programs (initdb, postgres) are not installed"
    if not shutil.which("psql"):
        return "psql is not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return None


def redis_missing():
    return None if shutil.which("redis-server") else "redis-server is not installed"


class PrivatePostgres:
    """One PostgreSQL cluster of its own: database "tunetrail", role "tunetrail" (trust
    authentication on 127.0.0.1 only), fsync off (a stopped server loses nothing the OS has;
    only a machine crash would). url is what DATABASE_URL takes."""

    def __init__(self, name="pg"):
        self.bindir = _pg_bindir()
        self.dir = tempfile.mkdtemp(prefix=f"tt-{name}-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.url = f"postgresql://tunetrail@127.0.0.1:{self.port}/tunetrail"
        self.proc = None
        self.paused = False
        self.uid = self.gid = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        self._as_owner([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", "tunetrail",
                        "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"], 60)
        self.start()
        self.psql("CREATE DATABASE tunetrail", db="postgres")

    def _as_owner(self, argv, timeout):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                             preexec_fn=_child_setup(self.uid, self.gid), cwd=self.dir)
        if out.returncode != 0:
            raise Failure(f"{os.path.basename(argv[0])} failed ({out.returncode}): "
                          f"{short(out.stderr or out.stdout)}")
        return out.stdout

    def start(self, wait=10.0):
        """Starts the server on its port and waits until it takes connections."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
             "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=60",
             "-c", "shared_buffers=16MB"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir,
            preexec_fn=_child_setup(self.uid, self.gid))
        log.close()
        deadline = time.monotonic() + wait
        while True:
            if self.proc.poll() is not None:
                raise Failure(f"private PostgreSQL exited with {self.proc.returncode}: "
                              f"{self.log_tail()}")
            r = subprocess.run(["psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(self.port),
                                "-U", "tunetrail", "-d", "postgres", "-c", "SELECT 1"],
                               capture_output=True, text=True, timeout=10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise Failure(f"private PostgreSQL not ready after {wait:.0f} s: "
                              f"{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, mode="fast"):
        """pg_ctl stop -m @mode (fast: ends sessions, checkpoints; immediate: the crash-like
        stop, recovered from the WAL at the next start)."""
        self.resume()
        self._as_owner([os.path.join(self.bindir, "pg_ctl"), "stop", "-D", self.data, "-m",
                        mode, "-w", "-t", "20"], 30)
        if self.proc is not None:
            self.proc.wait(timeout=10)
            self.proc = None

    def pids(self):
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        kids = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                kids.append(int(stat.split("/")[2]))
        return [self.proc.pid] + kids

    def _signal(self, pids, sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def pause(self):
        """SIGSTOP: the server still accepts TCP connections (the kernel does), but nothing
        answers. The postmaster stops first, so it forks no backend the list would miss."""
        pids = self.pids()
        if not pids:
            raise Failure("private PostgreSQL is not running: nothing to pause")
        self._signal(pids[:1], signal.SIGSTOP)
        self._signal(self.pids()[1:], signal.SIGSTOP)
        self.paused = True

    def resume(self):
        if self.paused:
            pids = self.pids()
            self._signal(pids[1:], signal.SIGCONT)
            self._signal(pids[:1], signal.SIGCONT)
            self.paused = False

    def psql(self, sql, db="tunetrail"):
        """Runs @sql; its rows as lists of strings (unaligned, '|' between columns)."""
        r = subprocess.run(["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "tunetrail", "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Failure(f"psql {short(sql, 80)}: {short(r.stderr)}")
        return [ln.split("|") for ln in r.stdout.splitlines() if ln]

    def log_tail(self, n=5):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-n:])

    def destroy(self):
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.kill()  # its backends notice the postmaster is gone and exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.proc = None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._backends_left():
            time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _backends_left(self):
        for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(cmdline, "rb") as f:
                    if self.data.encode() in f.read():
                        return True
            except OSError:
                continue
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False


class PrivateRedis:
    """redis-server on a port of its own, without persistence: a restart starts empty."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tt-redis-")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.start()

    def start(self, wait=5.0):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_child_setup())
        log.close()
        deadline = time.monotonic() + wait
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"private redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def ping(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self):
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def destroy(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()
        return False
