"""Start-up time of msgr-tui: from the command to the first screen and the bound listener.

What it measures
================

For each way of starting the app, ``msgr-tui --listen amqp://~127.0.0.1:PORT``
(PORT a free ephemeral port on loopback, a new one for each run) is run in a
pseudo-terminal of 80x24 (``TERM=xterm-256color``, the pty its controlling
terminal) and timed from just before the process is spawned to:

(a) first screen
    the moment the output read from the pty (read continuously) holds, after
    the alternate-screen escape (``ESC[?1049h``), the titles of the four panes
    of the main screen (``Subscriptions``, ``Compose``, ``Incoming``,
    ``Outgoing``) and after them the move of the cursor to the bottom row (the
    footer): the first whole frame, which Textual draws top to bottom in a
    burst of writes.
(b) listener bound
    the first TCP connect to 127.0.0.1:PORT that succeeds (tried every 2 ms;
    the one connection made is closed at once).
(a+b) first screen with listener bound
    the later of the two, in each run: the app is drawn *and* reachable.

Also printed: the CPU time (user + system, from ``/proc``) the app had used when
its first screen was seen, a figure that other load on the machine disturbs
less than the wall-clock ones.

Where the time goes: every run sets ``MSGR_TUI_STARTUP_TRACE`` to a file of its
own, where the app notes when its start reached each mark
(``msgr_tui/startup_trace.py``: the package imported, the config read, the UI
imported, the App made, mounting, the main screen mounted, its first frame
composed, its panes mounted and drawn). Printed per way of starting, the
median time from one mark to the next (marks in the order they came, the spawn
before the first, the first screen seen in its place among them), so the
phases up to it add up to about the median of (a).

The app is then stopped with SIGTERM (it closes cleanly and exits with 143) and
waited for; one that does not end within ``--timeout`` seconds is killed (its
whole process group), so no process outlives a run. Any other exit status is
reported.

The ways of starting it, each run ``--runs`` times (default 10), interleaved
(one of each per round, after one warm-up round that is not counted):

* every ``msgr-tui`` on PATH (the console script pip installed; under pyenv also
  its shim, a wrapper: bash, then pyenv, then the script), and the console script
  next to the interpreter when it is not on PATH;
* ``python3 -m msgr_tui`` (this interpreter: ``sys.executable``).

Baselines, measured in the same rounds (spawn to exit): ``python3 -c pass``,
``python3 -c "import textual.app"``, ``python3 -c "import proton"`` (and
``python3 -c pass`` through every wrapper of ``python3`` on PATH, such as a pyenv
shim, for the cost of the wrapper), so the figures can be read against the
interpreter's own start. Every figure is printed as min / median / max in
milliseconds.

Bytecode is cached in the temporary directory (``PYTHONPYCACHEPREFIX``, filled by
the warm-up round), as an installed app has it, even where the environment sets
``PYTHONDONTWRITEBYTECODE`` (which, on a checkout without ``__pycache__``, has
every start compile all of ``msgr_tui`` again); ``--inherit-bytecode`` measures
with the environment's settings instead.

The app always runs on this repository's ``msgr_tui`` (PYTHONPATH is set to the
repository root), with ``MSGR_TUI_STATE_DIR`` and ``MSGR_TUI_CONFIG`` pointing
into a temporary directory, so the user's files are never read or touched.
Everything stays on loopback.

``--importtime`` instead runs ``python3 -X importtime -c "import msgr_tui.cli,
msgr_tui.ui.app"`` (``--importtime-runs`` times, default 5, taking the median of
each module) and prints the ``--top`` (default 15) imports with the largest
cumulative time.

``--against DIR`` runs every way of starting a second time in each round on
DIR's ``msgr_tui`` (another checkout, such as ``git worktree add DIR main``),
and prints this checkout's medians over that one's: a before and after from the
same rounds, on the same load.

Usage::

    python3 bench/startup.py [--runs 10] [--timeout 20] [--inherit-bytecode]
                             [--against DIR] [--no-wrappers]
    python3 bench/startup.py --importtime [--importtime-runs 5] [--top 15]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import os
import platform
import re
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import sysconfig
import tempfile
import termios
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS, COLUMNS = 24, 80
ALT_SCREEN = b"\x1b[?1049h"
# The titles of the four panes of the main screen: all of them drawn = the first frame.
SCREEN_TEXTS = (b"Subscriptions", b"Compose", b"Incoming", b"Outgoing")
# ... and, after them, the cursor moved to the last row (the footer): the frame is whole.
BOTTOM_ROW = f"\x1b[{ROWS};".encode()
CONNECT_INTERVAL = 0.002
EXIT_SIGTERM = 128 + signal.SIGTERM
IMPORT_STATEMENT = "import msgr_tui.cli, msgr_tui.ui.app"
TRACE_ENV = "MSGR_TUI_STARTUP_TRACE"  # msgr_tui/startup_trace.py: where the app notes its marks


@dataclasses.dataclass
class Variant:
    """One way of starting the app: a label and the command before ``--listen``."""

    label: str
    command: list[str]
    repo: Path = REPO  # whose msgr_tui it runs (PYTHONPATH)


@dataclasses.dataclass
class AppRun:
    """The figures of one start of the app, in seconds from the spawn (None: not seen)."""

    screen: float | None
    listener: float | None
    returncode: int | None
    killed: bool
    screen_cpu: float | None = None  # CPU seconds the app had used at the first screen
    tail: str = ""  # the end of what the app wrote, when no screen was seen
    # (mark, seconds from the spawn) the app noted (MSGR_TUI_STARTUP_TRACE), in order.
    marks: list[tuple[str, float]] = dataclasses.field(default_factory=list)

    @property
    def both(self) -> float | None:
        if self.screen is None or self.listener is None:
            return None
        return max(self.screen, self.listener)

    @property
    def listener_first(self) -> bool:
        return (
            self.screen is not None and self.listener is not None and self.listener <= self.screen
        )


# --- environment --------------------------------------------------------------------


def with_repo(env: dict[str, str], repo: Path) -> dict[str, str]:
    """``env`` with ``repo``'s msgr_tui first on PYTHONPATH instead of this one's."""
    if repo == REPO:
        return env
    rest = env["PYTHONPATH"].split(os.pathsep)[1:]
    return {**env, "PYTHONPATH": os.pathsep.join([str(repo), *rest])}


def child_env(tmp: Path, inherit_bytecode: bool) -> dict[str, str]:
    """The environment of every child: this repo's msgr_tui, files in ``tmp``, a 80x24 xterm.

    Unless ``inherit_bytecode``, bytecode is cached under ``tmp`` (PYTHONPYCACHEPREFIX,
    filled by the warm-up run), as an installed app has it, whatever the environment
    says (PYTHONDONTWRITEBYTECODE would have every run compile this repo's modules).
    """
    env = dict(os.environ)
    if not inherit_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    for name in ("COLUMNS", "LINES"):  # they would override the pty's size
        env.pop(name, None)
    pythonpath = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + pythonpath if pythonpath else "")
    env["TERM"] = "xterm-256color"
    env["MSGR_TUI_STATE_DIR"] = str(tmp / "state")
    env["MSGR_TUI_CONFIG"] = str(tmp / "config.toml")
    return env


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """Whether a TCP connect to 127.0.0.1:port succeeds (the connection is closed at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def on_path(name: str) -> list[Path]:
    """Every executable ``name`` on PATH, in PATH order, each file once."""
    found: list[Path] = []
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        new = all(candidate.resolve() != known.resolve() for known in found)
        if new and candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(candidate)
    return found


def is_wrapper(path: Path) -> bool:
    """A script that is not Python's (such as a pyenv shim: bash, then pyenv, then Python)."""
    with path.open("rb") as file:
        first = file.readline(200)
    return first.startswith(b"#!") and b"python" not in first


def variants(python: str, wrappers: bool = True) -> list[Variant]:
    """The ways of starting the app that exist here (see the module docstring)."""
    scripts = [path for path in on_path("msgr-tui") if wrappers or not is_wrapper(path)]
    installed = Path(sysconfig.get_path("scripts")) / "msgr-tui"
    if installed.is_file() and all(installed.resolve() != path.resolve() for path in scripts):
        scripts.append(installed)
    found = [
        Variant(f"msgr-tui ({'wrapper' if is_wrapper(path) else 'script'}: {path})", [str(path)])
        for path in scripts
    ]
    found.append(Variant(f"{short(python)} -m msgr_tui", [python, "-m", "msgr_tui"]))
    return found


def baselines(python: str) -> list[Variant]:
    found = [
        Variant(f"{short(python)} -c pass", [python, "-c", "pass"]),
        Variant(f'{short(python)} -c "import textual.app"', [python, "-c", "import textual.app"]),
        Variant(f'{short(python)} -c "import proton"', [python, "-c", "import proton"]),
    ]
    # The cost of a wrapper such as a pyenv shim (another interpreter would be no baseline).
    found.extend(
        Variant(f"python3 -c pass (wrapper: {path})", [str(path), "-c", "pass"])
        for path in on_path("python3")
        if is_wrapper(path)
    )
    return found


def short(python: str) -> str:
    return "python3" if Path(python).resolve() == Path(sys.executable).resolve() else python


# --- one start of the app -----------------------------------------------------------


def make_controlling_tty() -> None:
    """In the child (after setsid and the dup2s): the pty on fd 0 becomes its terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def drain(master: int, timeout: float) -> bytes | None:
    """What the pty has within ``timeout`` seconds: b"" if nothing, None at end of file."""
    ready, _, _ = select.select([master], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(master, 65536) or None
    except OSError:  # EIO: every slave side is closed, the app is gone
        return None


def screen_drawn(output: bytes) -> bool:
    """The alternate screen, the four pane titles, then the cursor sent to the bottom row."""
    start = output.find(ALT_SCREEN)
    if start < 0:
        return False
    found = [output.find(text, start) for text in SCREEN_TEXTS]
    return min(found) >= 0 and output.find(BOTTOM_ROW, max(found)) >= 0


def cpu_time(pid: int) -> float | None:
    """User + system CPU seconds of a process and its waited-for children (Linux /proc).

    Less disturbed by other load on the machine than the wall-clock figures; in
    steps of a clock tick (10 ms at 100 Hz).
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def plain_text(output: bytes) -> str:
    """Terminal output without its escape sequences, for an error message."""
    text = output.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?<>=$]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[@-_]", "", text)
    return text.strip()[-500:]


def read_marks(path: Path, started: float) -> list[tuple[str, float]]:
    """The app's start-up marks (``name perf_counter`` lines), from the spawn, in order."""
    marks = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, at = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                marks.append((name, float(at) - started))
    return sorted(marks, key=lambda item: item[1])


def run_app(command: Sequence[str], env: dict[str, str], timeout: float) -> AppRun:
    """Start the app in a fresh 80x24 pty, time (a) and (b), then SIGTERM it and wait."""
    trace = Path(env["MSGR_TUI_STATE_DIR"]) / "startup-trace"
    trace.unlink(missing_ok=True)
    env = {**env, TRACE_ENV: str(trace)}
    port = free_port()
    if listening(port):
        raise RuntimeError(f"something already listens on 127.0.0.1:{port}")
    argv = [*command, "--listen", f"amqp://~127.0.0.1:{port}"]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    output = bytearray()
    screen: float | None = None
    screen_cpu: float | None = None
    listener: float | None = None
    process: subprocess.Popen[bytes] | None = None
    killed = False
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=env["MSGR_TUI_STATE_DIR"],
            start_new_session=True,
            preexec_fn=make_controlling_tty,
        )
        os.close(slave)
        slave = -1
        deadline = started + timeout
        next_connect = started
        while (screen is None or listener is None) and time.perf_counter() < deadline:
            wait = CONNECT_INTERVAL if listener is None else 0.05
            chunk = drain(master, wait)
            now = time.perf_counter()
            if chunk is None:  # the app ended before it was ready
                break
            if chunk and screen is None:
                output += chunk
                if screen_drawn(bytes(output)):
                    screen = now - started
                    screen_cpu = cpu_time(process.pid)
            if listener is None and now >= next_connect:
                next_connect = now + CONNECT_INTERVAL
                if listening(port):
                    listener = time.perf_counter() - started
        returncode, killed = stop(process, master, timeout)
        process = None
        tail = "" if screen is not None else plain_text(bytes(output[-2000:]))
        marks = read_marks(trace, started)
        return AppRun(screen, listener, returncode, killed, screen_cpu, tail, marks)
    finally:
        if process is not None:  # an exception on the way: never leave the app behind
            stop(process, master, 2.0)
        if slave >= 0:
            os.close(slave)
        os.close(master)


def stop(process: subprocess.Popen[bytes], master: int, timeout: float) -> tuple[int | None, bool]:
    """SIGTERM, then wait (reading the pty, so the app never blocks on a write); kill on hang."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.perf_counter() + timeout
    while process.poll() is None and time.perf_counter() < deadline:
        if drain(master, 0.05) is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.perf_counter()))
    if process.poll() is not None:
        return process.returncode, False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group (start_new_session)
    process.wait()
    return process.returncode, True


def run_baseline(command: Sequence[str], env: dict[str, str]) -> float:
    """Spawn to exit of a short command, in seconds."""
    started = time.perf_counter()
    subprocess.run(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
    return time.perf_counter() - started


# --- reporting ----------------------------------------------------------------------


def summary(values: Sequence[float | None]) -> str:
    """min / median / max in ms, and how many runs did not get there."""
    seen = [value for value in values if value is not None]
    missing = len(values) - len(seen)
    if not seen:
        return "never seen"
    ms = [value * 1000 for value in seen]
    text = f"{min(ms):7.0f} {statistics.median(ms):7.0f} {max(ms):7.0f}"
    return text + (f"   ({missing} runs: not seen)" if missing else "")


def bytecode_note(inherit_bytecode: bool) -> str:
    inherited = ", ".join(
        f"{name}={os.environ[name]}"
        for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        if name in os.environ
    )
    if inherit_bytecode:
        return f"bytecode: as the environment has it ({inherited or 'defaults'})"
    return "bytecode: cached in a temp dir" + (f" (ignoring {inherited})" if inherited else "")


def load_note() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_header(runs: int, inherit_bytecode: bool) -> None:
    versions = []
    for package in ("textual", "python-qpid-proton"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} ?")
    print(
        f"msgr-tui start-up, {runs} runs each (+1 warm-up), pty {COLUMNS}x{ROWS}, "
        f"Python {platform.python_version()}, {', '.join(versions)}, "
        f"{os.cpu_count()} CPUs, {platform.platform()}\n"
        f"{bytecode_note(inherit_bytecode)}; {load_note()} at the start",
        flush=True,
    )


def benchmark(
    runs: int,
    timeout: float,
    python: str,
    inherit_bytecode: bool,
    against: Path | None = None,
    wrappers: bool = True,
) -> int:
    apps = variants(python, wrappers)
    if against is not None:  # the same ways of starting, on the other checkout's msgr_tui
        apps = [
            other
            for variant in apps
            for other in (
                variant,
                Variant(f"{variant.label} [{against}]", variant.command, against),
            )
        ]
    bases = baselines(python)
    print_header(runs, inherit_bytecode)
    results: dict[str, list[AppRun]] = {variant.label: [] for variant in apps}
    base_times: dict[str, list[float]] = {variant.label: [] for variant in bases}
    with tempfile.TemporaryDirectory(prefix="msgr-tui-startup-") as name:
        tmp = Path(name)
        (tmp / "state").mkdir()
        env = child_env(tmp, inherit_bytecode)
        for round_number in range(runs + 1):
            warm_up = round_number == 0
            for variant in bases:
                elapsed = run_baseline(variant.command, env)
                if not warm_up:
                    base_times[variant.label].append(elapsed)
            for variant in apps:
                result = run_app(variant.command, with_repo(env, variant.repo), timeout)
                if not warm_up:
                    results[variant.label].append(result)
            print(f"  round {round_number}{' (warm-up)' if warm_up else ''} done", file=sys.stderr)

    width = max(len(label) for label in [*results, *base_times]) + 2
    print(f"\n{'baseline (spawn to exit)':<{width}}{'min':>7} {'median':>7} {'max':>7}  ms")
    for label, times in base_times.items():
        print(f"{label:<{width}}{summary(times)}")
    failed = 0
    for label, app_runs in results.items():
        print(f"\n{label}{' ' * max(0, width - len(label))}{'min':>7} {'median':>7} {'max':>7}  ms")
        rows: list[tuple[str, Callable[[AppRun], float | None]]] = [
            ("  (a) first screen", lambda run: run.screen),
            ("  (b) listener bound", lambda run: run.listener),
            ("  max(a, b): screen with listener", lambda run: run.both),
            ("  CPU time the app had used at (a)", lambda run: run.screen_cpu),
        ]
        for name, pick in rows:
            print(f"{name:<{width}}{summary([pick(run) for run in app_runs])}")
        earlier = sum(run.listener_first for run in app_runs)
        print(f"  listener bound before the first screen in {earlier}/{len(app_runs)} runs")
        codes = [run.returncode for run in app_runs]
        bad = [code for code in codes if code != EXIT_SIGTERM]
        kills = sum(run.killed for run in app_runs)
        if bad or kills:
            failed += 1
            print(f"  ! exit statuses {codes}, {kills} killed (expected {EXIT_SIGTERM})")
        if against is not None and "[" in label:
            print_ratios(app_runs, results[label[: label.rindex(" [")]], width)
        print_breakdown(app_runs, width)
        tails = [run.tail for run in app_runs if run.tail]
        if tails:
            failed += 1
            print(f"  ! no screen in {len(tails)} runs; the first one ended with:\n{tails[0]}")
        else:
            print(f"  exit status {EXIT_SIGTERM} (SIGTERM) in every run")
    print(f"\n{load_note()} at the end")
    return 1 if failed else 0


def print_ratios(theirs: Sequence[AppRun], ours: Sequence[AppRun], width: int) -> None:
    """This checkout's medians over the other's, for the figures of both in the same rounds."""
    picks: list[tuple[str, Callable[[AppRun], float | None]]] = [
        ("max(a, b)", lambda run: run.both),
        ("CPU at (a)", lambda run: run.screen_cpu),
    ]
    for name, pick in picks:
        mine = [value for run in ours if (value := pick(run)) is not None]
        other = [value for run in theirs if (value := pick(run)) is not None]
        if mine and other:
            ratio = statistics.median(mine) / statistics.median(other)
            print(f"{'  this checkout / that one, ' + name:<{width}}{ratio:15.2f}")


def print_breakdown(app_runs: Sequence[AppRun], width: int) -> None:
    """The median time from each start-up mark to the next, and to the first screen."""
    traced = [run for run in app_runs if run.marks and run.screen is not None]
    if not traced:
        print("  (no start-up marks: an app without msgr_tui/startup_trace.py?)")
        return
    phases: dict[str, list[float]] = {}
    for run in traced:
        previous_name, previous_at = "spawn", 0.0
        seen = ("FIRST SCREEN SEEN", run.screen or 0.0)
        for name, at in sorted([*run.marks, seen], key=lambda item: item[1]):
            phases.setdefault(f"{previous_name} -> {name}", []).append(at - previous_at)
            previous_name, previous_at = name, at
    print(
        f"  where the time goes (median ms from one mark to the next, {len(traced)} runs;"
        " the first screen seen in its place):"
    )
    for label, times in phases.items():
        median = statistics.median(times) * 1000
        print(f"{'    ' + label:<{width}}{median:15.0f}")


# --- -X importtime ------------------------------------------------------------------


@dataclasses.dataclass
class ImportLine:
    name: str
    depth: int
    self_us: list[int]
    cumulative_us: list[int]


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, depth, self µs, cumulative µs) for each line of ``-X importtime``."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3 or not fields[0].strip().isdigit():
            continue  # the header line
        module = fields[2].rstrip()
        depth = (len(module) - len(module.lstrip())) // 2
        found.append((module.strip(), depth, int(fields[0]), int(fields[1])))
    return found


def importtime(python: str, runs: int, top: int, inherit_bytecode: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="msgr-tui-importtime-") as name:
        tmp = Path(name)
        (tmp / "state").mkdir()
        env = child_env(tmp, inherit_bytecode)
        command = [python, "-X", "importtime", "-c", IMPORT_STATEMENT]
        lines: dict[str, ImportLine] = {}
        totals: list[float] = []
        for attempt in range(runs + 1):  # the first one warms the caches
            started = time.perf_counter()
            done = subprocess.run(
                command,
                env=env,
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            if attempt == 0:
                continue
            totals.append(elapsed)
            for module, depth, self_us, cumulative_us in parse_importtime(done.stderr):
                line = lines.setdefault(module, ImportLine(module, depth, [], []))
                line.self_us.append(self_us)
                line.cumulative_us.append(cumulative_us)
    ranked = sorted(lines.values(), key=lambda line: statistics.median(line.cumulative_us))
    ranked.reverse()
    roots = sum(statistics.median(line.cumulative_us) for line in lines.values() if line.depth == 0)
    print(
        f'{short(python)} -X importtime -c "{IMPORT_STATEMENT}": {len(lines)} modules, '
        f"{roots / 1000:.0f} ms of imports (median of {runs} runs; whole command "
        f"{statistics.median(totals) * 1000:.0f} ms)\n{bytecode_note(inherit_bytecode)}; "
        f"{load_note()}\n"
        "Not listed: modules loaded with importlib.import_module, such as the widgets of\n"
        "textual.widgets (lazy); their time is in the self time of the module that asked.\n"
    )
    print(f"{'cumulative':>10} {'self':>7}  depth  module   (ms, median)")
    for line in ranked[:top]:
        print(
            f"{statistics.median(line.cumulative_us) / 1000:10.1f} "
            f"{statistics.median(line.self_us) / 1000:7.1f}  {line.depth:5d}  "
            f"{'  ' * line.depth}{line.name}"
        )
    return 0


# --- main ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=20.0,
        help="seconds a start may take, and again to stop, before it is killed (default 20)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for -m and the baselines"
    )
    parser.add_argument(
        "--inherit-bytecode",
        action="store_true",
        help="keep the environment's bytecode settings (default: a bytecode cache in a temp dir)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="also run every way of starting on DIR's msgr_tui (another checkout), "
        "interleaved, and print the ratios",
    )
    parser.add_argument(
        "--no-wrappers",
        action="store_true",
        help="leave out the msgr-tui wrappers on PATH (such as a pyenv shim)",
    )
    parser.add_argument(
        "--importtime",
        action="store_true",
        help=f'print the top imports of python3 -X importtime -c "{IMPORT_STATEMENT}" instead',
    )
    parser.add_argument(
        "--importtime-runs", type=int, default=5, help="runs to take the median of (default 5)"
    )
    parser.add_argument("--top", type=int, default=15, help="imports to print (default 15)")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.importtime_runs < 1:
        parser.error("--runs and --importtime-runs must be at least 1")
    if args.importtime:
        return importtime(args.python, args.importtime_runs, args.top, args.inherit_bytecode)
    against = args.against.resolve() if args.against is not None else None
    if against is not None and not (against / "msgr_tui").is_dir():
        parser.error(f"--against {args.against}: no msgr_tui there")
    return benchmark(
        args.runs, args.timeout, args.python, args.inherit_bytecode, against, not args.no_wrappers
    )


if __name__ == "__main__":
    sys.exit(main())
