"""What the e2e scripts share: free loopback ports, waiting for a condition or a
server, a moto server (S3, SQS, SNS emulator from PyPI) with an AWS environment
that reads no real configuration or credentials, a throwaway PostgreSQL, and
`auditwatch serve` processes to start, kill and read."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(what, check, timeout=120, every=0.5):
    """Calls `check` (returning `(done, what_was_seen)`) until done; fails with the
    last thing seen."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last}")


def wait_for(url, proc, what):
    """Waits until `url` answers, failing at once if `proc` exits."""
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited")
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def sandbox_aws(work, region):
    """Sets this process's AWS environment to test credentials and empty config files
    under `work` (no real profile, no instance metadata); children inherit it."""
    for empty in ("no-aws-config", "no-aws-credentials"):
        open(os.path.join(work, empty), "w").close()
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.path.join(work, "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "no-aws-credentials"),
    })


def start_moto(work, region):
    """Starts moto server on a free loopback port in a sandboxed AWS environment;
    returns the process and its URL once it answers."""
    port = free_port()
    moto = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    sandbox_aws(work, region)
    wait_for(url + "/moto-api/", moto, "moto")
    return moto, url


def start_postgres(name="auditwatch"):
    """Starts Debian's PostgreSQL with a throwaway cluster: trust authentication,
    loopback only, a free port, fsync off (a test). Returns `(url, stop)`; `stop()`
    stops the server and deletes the cluster. As root, the server runs as `postgres`
    (it refuses root)."""
    import glob
    import shutil
    import tempfile
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not bindirs:
        raise SystemExit("PostgreSQL is not installed (Debian's postgresql package)")
    bindir = bindirs[-1]
    home = tempfile.mkdtemp(prefix="aw-pg-")
    user = []
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
        user = ["runuser", "-u", "postgres", "--"]
    data, port = os.path.join(home, "data"), free_port()
    subprocess.run(user + [f"{bindir}/initdb", "-D", data, "--auth=trust", "-U", name, "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(user + [f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(home, "log"), "-w", "start",
                           "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {home} -c fsync=off"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(user + [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", name, name],
                   check=True)

    def stop():
        subprocess.run(user + [f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(home, ignore_errors=True)
    return f"postgres://{name}@127.0.0.1:{port}/{name}", stop


class Serve:
    """`auditwatch serve` on a free loopback port, its stderr kept in `lines`. With
    `failpoint`, the (fail-point) binary stops there and `reached` is set."""

    def __init__(self, binary, data_dir, config, env, failpoint=None):
        self.port = free_port()
        self.failpoint = failpoint
        env = dict(env)
        if failpoint:
            env["AUDITWATCH_FAILPOINT"] = failpoint
        self.lines = []
        self.reached = threading.Event()
        config_args = ["--config", config] if config else []
        self.proc = subprocess.Popen([binary, "--data-dir", data_dir, *config_args, "serve",
                                      "--listen", f"127.0.0.1:{self.port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            if self.failpoint and line.strip() == f"failpoint reached: {self.failpoint}":
                self.reached.set()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
