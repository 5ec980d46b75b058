"""Real servers on loopback for the remote tests: nginx (HTTP and HTTPS with
a CA made here with openssl), an S3-API server with signature checking
(moto's where a python has it, else s3rver from build-npm/), and the
fault-injecting proxy. Each start waits until the server answers and fails
loudly (with the server's own output) when it cannot.

    servers.py --moto    prints the python that has moto; exits 1 if none"""

import json
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
# where scripts/setup test installs s3rver (tests/remote/s3rver/package-lock.json)
NPM_DIR = HERE.parents[1] / "build-npm"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {read_log(proc)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on port {port} in {timeout} s: {read_log(proc)}")


def read_log(proc):
    path = getattr(proc, "log_path", None)
    return pathlib.Path(path).read_text(errors="replace")[-3000:] if path else ""


def spawn(cmd, log_path, env=None):
    log = open(log_path, "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL)
    proc.log_path = log_path
    log.close()
    return proc


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: {r.stderr[-2000:]}")
    return r


def make_ca(d):
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it.
    Returns (ca.pem, server.pem, server.key)."""
    d = pathlib.Path(d)
    d.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, crt = (d / n for n in ("ca.key", "ca.pem", "server.key",
                                                 "server.csr", "server.pem"))
    ext = d / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
         "-out", ca, "-days", "2", "-subj", "/CN=inatfs test CA"])
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
    return ca, crt, key


def find_nginx():
    for p in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    raise RuntimeError("nginx not found: scripts/setup test installs it (apt-get install nginx)")


class Nginx:
    """nginx serving root over HTTP and over HTTPS (HTTP/2 offered), with
    /to-http/NAME redirecting from https to http and /to-https/NAME from
    https to https. autoindex: folders answer with nginx's HTML listing (what
    clients that list an http:// folder, such as rclone's http backend,
    read); off, a folder is 403 as nginx's default."""

    def __init__(self, root, work, autoindex=False):
        self.root, self.work = pathlib.Path(root), pathlib.Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.ca, crt, key = make_ca(self.work / "tls")
        self.http_port, self.https_port = free_port(), free_port()
        user = "user root;" if os.geteuid() == 0 else ""
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
{user}
worker_processes 2;
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {self.work}/access.log;
    client_body_temp_path {self.work}/tmp-body;
    proxy_temp_path {self.work}/tmp-proxy;
    fastcgi_temp_path {self.work}/tmp-fcgi;
    uwsgi_temp_path {self.work}/tmp-uwsgi;
    scgi_temp_path {self.work}/tmp-scgi;
    keepalive_requests 100000;
    autoindex {"on" if autoindex else "off"};
    server {{
        listen 127.0.0.1:{self.http_port};
        root {self.root};
    }}
    server {{
        listen 127.0.0.1:{self.https_port} ssl http2;
        ssl_certificate {crt};
        ssl_certificate_key {key};
        root {self.root};
        location /to-http/ {{ rewrite ^/to-http/(.*)$ http://127.0.0.1:{self.http_port}/$1 redirect; }}
        location /to-https/ {{ rewrite ^/to-https/(.*)$ https://127.0.0.1:{self.https_port}/$1 redirect; }}
    }}
}}
""")
        self.proc = spawn([find_nginx(), "-p", str(self.work), "-c", str(conf), "-e",
                           str(self.work / "error.log")], self.work / "nginx.out")
        wait_port(self.http_port, self.proc, "nginx")
        wait_port(self.https_port, self.proc, "nginx")
        self.http = f"http://127.0.0.1:{self.http_port}/"
        self.https = f"https://127.0.0.1:{self.https_port}/"

    def stop(self):
        stop(self.proc)


class Proxy:
    def __init__(self, upstream_port, work):
        self.port = free_port()
        self.proc = spawn([sys.executable, str(HERE / "faultproxy.py"), "--port",
                           str(self.port), "--upstream", f"127.0.0.1:{upstream_port}"],
                          pathlib.Path(work) / f"proxy-{self.port}.log")
        wait_port(self.port, self.proc, "the fault proxy")
        self.url = f"http://127.0.0.1:{self.port}/"

    def _call(self, path, body=None):
        req = urllib.request.Request(self.url + path.lstrip("/"),
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def config(self, latency=0.0, faults=(), always=None):
        self._call("/__proxy/config", {"latency": latency, "faults": list(faults),
                                       "always": always})

    def reset(self):
        self._call("/__proxy/reset", {})

    def stats(self):
        return self._call("/__proxy/stats")

    def stop(self):
        stop(self.proc)


def find_moto_python():
    """A python that can import moto: this machine's first python3 on PATH
    (not Debian's), or the one moto_server's script names."""
    cands = []
    for name in ("python3", "python"):
        p = shutil.which(name)
        if p:
            cands.append(p)
    ms = shutil.which("moto_server")
    if ms:
        with open(ms, "rb") as f:
            first = f.readline().decode(errors="replace")
        if first.startswith("#!"):
            cands.append(first[2:].strip().split()[0])
    cands += sorted(str(p) for p in pathlib.Path.home().glob(".pyenv/versions/*/bin/python3"))
    for c in cands:
        try:
            r = subprocess.run([c, "-c", "import moto.server, boto3"], capture_output=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return c
    raise RuntimeError("no python with moto and boto3 found (tried " + ", ".join(cands) + ")")


class Moto:
    """moto's S3 server with IAM checks on: a user with a key that may read
    the bucket, the files uploaded, then every request must be signed right
    (an unsigned one is refused too)."""

    refuses_anonymous = True

    def __init__(self, files, work, python, bucket="inat-test"):
        self.work = pathlib.Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.python = python
        self.port = free_port()
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1000000",
                   AWS_ACCESS_KEY_ID="setup", AWS_SECRET_ACCESS_KEY="setup")
        self.proc = spawn([self.python, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                           str(self.port)], self.work / "moto.log", env=env)
        wait_port(self.port, self.proc, "moto_server", timeout=90)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        r = run([self.python, str(HERE / "s3setup.py"), self.endpoint, bucket] +
                [str(f) for f in files], timeout=120, env=env)
        info = json.loads(r.stdout)
        self.key_id, self.secret, self.bucket = info["key_id"], info["secret"], bucket
        version = run([self.python, "-c", "import moto; print(moto.__version__)"]).stdout
        self.name = f"moto {version.strip()} ({self.python})"

    def stop(self):
        stop(self.proc)


def find_s3rver():
    """(node, s3rver's package folder) as scripts/setup test installs them."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise RuntimeError("node not found: scripts/setup test installs it (apt-get install "
                           "nodejs npm)")
    pkg = NPM_DIR / "node_modules" / "@20minutes" / "s3rver"
    if not (pkg / "lib" / "cli.js").exists():
        raise RuntimeError(f"s3rver is not installed in {NPM_DIR}: scripts/setup test installs "
                           "it (npm ci from tests/remote/s3rver/package-lock.json)")
    return node, pkg


class S3rver:
    """s3rver (npm registry, run with node): it checks the Signature V4 of
    every signed request against its account's keys, where a key made here
    is added to its fixed one. It has no access control: unsigned requests
    are served, and that is how the files are uploaded (under data/ and
    pays/)."""

    refuses_anonymous = False

    def __init__(self, files, work, bucket="inat-test"):
        self.work = pathlib.Path(work)
        (self.work / "store").mkdir(parents=True, exist_ok=True)
        node, pkg = find_s3rver()
        self.port = free_port()
        # a key of this run's, as moto's IAM user has: a key id and a secret
        # that differ and appear nowhere else
        self.key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret = secrets.token_urlsafe(30)
        # the package has no executable: its command line module, run by hand
        start = ("const [pkg, ...args] = process.argv.slice(1);"
                 "require(pkg + '/lib/models/account').DUMMY_ACCOUNT.createKeyPair("
                 "process.env.S3RVER_KEY_ID, process.env.S3RVER_SECRET);"
                 "require(pkg + '/lib/cli.js').parseAsync(args, {from: 'user'})")
        env = dict(os.environ, S3RVER_KEY_ID=self.key_id, S3RVER_SECRET=self.secret)
        self.proc = spawn([node, "-e", start, "--", str(pkg), "-d", str(self.work / "store"),
                           "-a", "127.0.0.1", "-p", str(self.port), "--configure-bucket", bucket],
                          self.work / "s3rver.log", env=env)
        wait_port(self.port, self.proc, "s3rver", timeout=60)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        for f in map(pathlib.Path, files):
            for prefix in ("data/", "pays/"):
                req = urllib.request.Request(f"{self.endpoint}/{bucket}/{prefix}{f.name}",
                                             data=f.read_bytes(), method="PUT")
                with urllib.request.urlopen(req, timeout=60) as r:
                    r.read()
        self.bucket = bucket
        version = json.loads((pkg / "package.json").read_text())["version"]
        self.name = f"s3rver {version} (node {run([node, '--version']).stdout.strip()})"

    def stop(self):
        stop(self.proc)


def s3_server(files, work):
    """The S3 server for the tests: moto where a python has it, else s3rver;
    INATFS_S3_SERVER=moto or =s3rver asks for one. Fails naming what is
    missing when there is none."""
    want = os.environ.get("INATFS_S3_SERVER", "")
    if want not in ("", "moto", "s3rver"):
        raise RuntimeError(f"INATFS_S3_SERVER={want}: give moto or s3rver")
    missing = []
    if want in ("", "moto"):
        try:
            python = find_moto_python()
        except RuntimeError as e:
            if want:
                raise
            missing.append(str(e))
        else:
            return Moto(files, pathlib.Path(work) / "moto", python)
    try:
        find_s3rver()
    except RuntimeError as e:
        raise RuntimeError("no S3 server for the tests: " + "; ".join(missing + [str(e)]))
    return S3rver(files, pathlib.Path(work) / "s3rver")


if __name__ == "__main__":
    if sys.argv[1:] != ["--moto"]:
        sys.exit("usage: servers.py --moto")
    try:
        print(find_moto_python())
    except RuntimeError as e:
        sys.exit(str(e))
