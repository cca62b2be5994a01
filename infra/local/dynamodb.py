"""AWS's DynamoDB Local for `make dev`, the tests and the benchmarks.

Why not an emulation of our own (moto's server behind a lock, until issue #10):
measured side by side, DynamoDB Local is ~70x faster on transactions, stays fast
as the table grows, is exact under conditional writes and honours
ClientRequestToken, as DynamoDB does. Its jar ships inside the npm registry
package `amplify-dynamodb-simulator`, which is the one place the image's
registries carry it.

`fetch()` runs `npm pack` (npm checks the tarball against the registry's
integrity hash; none of the package's JavaScript is installed or run), keeps only
`package/emulator/`, and checks two pinned hashes: the package's own `sha256`
file must name the DynamoDB Local release we tested (it is the hash AWS
published for that release's tarball, which the package unpacked), and the jar
must hash to what we measured from it, because the package's file does not
cover the jar itself. The result is cached under `.local/` (gitignored).

`DynamoDBLocal` runs it in memory with telemetry disabled, on 127.0.0.1 only
(LoopbackDynamoDBLocal.java), as a child that dies with its parent.

    python -m infra.local.dynamodb fetch          # what `make` runs once
    python -m infra.local.dynamodb --port 8001    # run it alone
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "amplify-dynamodb-simulator@2.9.30"
RELEASE_SHA256 = "55b425a9a42cfc728436eaf0e4ae64d688b64d177c99c4f4c4d7e3dbb3ac6c09"  # DynamoDB Local 1.25.1
JAR_SHA256 = "454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"
CACHE = ROOT / ".local" / "dynamodb-local" / PACKAGE.rsplit("@", 1)[1]
LAUNCHER = Path(__file__).with_name("LoopbackDynamoDBLocal.java")
JAVA_PACKAGE = "openjdk-17-jdk-headless"  # Debian's; the launcher needs the JDK's source launcher
HOST = "127.0.0.1"


class SetupError(RuntimeError):
    """DynamoDB Local cannot be fetched or started; the message says what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(emulator: Path) -> None:
    release = (emulator / "sha256").read_text().split()[0]
    if release != RELEASE_SHA256:
        raise SetupError(f"{PACKAGE} carries DynamoDB Local release {release}, expected {RELEASE_SHA256}")
    jar = _sha256(emulator / "DynamoDBLocal.jar")
    if jar != JAR_SHA256:
        raise SetupError(f"DynamoDBLocal.jar hashes to {jar}, expected {JAR_SHA256}")


def fetch() -> Path:
    """The verified emulator folder, fetched once into the cache."""
    if (CACHE / "DynamoDBLocal.jar").is_file():
        _verify(CACHE)
        return CACHE
    npm = shutil.which("npm")
    if npm is None:
        raise SetupError("npm is needed once to fetch DynamoDB Local (Debian package: npm)")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as tmp:
        subprocess.run(
            [npm, "pack", PACKAGE, "--silent", "--pack-destination", tmp], check=True, stdout=subprocess.DEVNULL
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(tmp, members=members, filter="data")
        emulator = Path(tmp) / "package" / "emulator"
        _verify(emulator)
        try:
            emulator.rename(CACHE)
        except OSError:  # another process cached it first
            _verify(CACHE)
    return CACHE


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise SetupError(f"Java 17 is needed for DynamoDB Local: apt-get install {JAVA_PACKAGE}")
    return java


def _die_with_parent() -> None:
    """Linux: the JVM gets SIGTERM when the process that started it dies, however it dies."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DynamoDBLocal:
    """One in-memory DynamoDB Local process on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        from .loopback import free_port

        emulator = fetch()
        self.port = free_port(port)
        self._log = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the JVM
        lib = emulator / "DynamoDBLocal_lib"
        self._process = subprocess.Popen(
            [
                _java(),
                f"-Djava.library.path={lib}",
                "-cp",
                os.pathsep.join([str(emulator / "DynamoDBLocal.jar"), str(lib / "*")]),
                str(LAUNCHER),
                "-inMemory",
                "-disableTelemetry",
                "-port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        self._wait_until_listening()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _wait_until_listening(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._log.seek(0)
                error = self._log.read().decode(errors="replace")
                if "jdk.compiler" in error or "source-file mode" in error:
                    error += f"\nThe launcher needs a JDK: apt-get install {JAVA_PACKAGE}"
                raise SetupError(f"DynamoDB Local exited with {self._process.returncode}:\n{error}")
            with socket.socket() as s:
                if s.connect_ex((HOST, self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise SetupError(f"DynamoDB Local did not listen on {self.url} within {timeout:.0f} s")

    def wait(self) -> int:
        return self._process.wait()

    def poll(self) -> int | None:
        return self._process.poll()

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["fetch", "run"], default="run")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    try:
        if args.command == "fetch":
            print(f"DynamoDB Local ready in {fetch().relative_to(ROOT)}")
            return
        server = DynamoDBLocal(args.port)
    except SetupError as exc:
        sys.exit(f"DynamoDB Local: {exc}")
    print(f"DynamoDB Local on {server.url}", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
