"""The parent side of `pytest autograder`: one grading process per test file, and the parent keeps the score.

Why a process per test file (one exercise): whatever the learner's module does — `os._exit`, a segfault, a
hang that swallows the timeout, a leftover thread or child process, Ctrl-C, `pytest.exit`, changing the default
dtype, grad mode, `sys.path`, the environment or a library function — stays inside the process grading that
exercise. The parent never imports learner code; it prints the scoreboard and writes the grades whatever
happens, and an exercise that did not finish is shown as crashed or timed out, with the reason.

Why fork (Linux): the parent has already imported torch, numpy, pytest and the tests while collecting them (and
TensorFlow when several files need it), so a forked process starts graded in milliseconds; a fresh interpreter
per file costs an import of torch (and TensorFlow) each time. bench/autograder_time.py measures both. Elsewhere
(macOS, Windows), where forking a process that has loaded torch is unsafe or impossible, each file gets a fresh
`python -m pytest --workbook-child` process instead.

The parent gives each process its own process group and kills the group when it ends or hangs; on Linux the
parent is also the "child subreaper" of everything started below it, so a process that detaches itself is
found and killed too. No process outlives the run.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _pytest.reports import TestReport

from shared import exercises
from shared.grading import channel
from shared.grading.budget import Scale, calibrate
from shared.grading.child import Settings, budget_of, exit_now, run_forked

POLL_S = 0.02
GRADER_FAILED = 70  # the grading process's own code failed (the traceback is in its log)
GRADER_FAILED_LINE = "workbook: the grading process failed:\n"
SIGNAL_NAMES = {signal.SIGSEGV: "a segmentation fault (SIGSEGV): memory was accessed where it must not be "
                                "(ctypes, or a library used wrongly)",
                signal.SIGABRT: "an abort (SIGABRT): a library stopped the process",
                signal.SIGKILL: "SIGKILL: the process was killed from outside, most often for using too much memory",
                signal.SIGTERM: "SIGTERM: the process was told to stop",
                signal.SIGFPE: "a floating-point exception (SIGFPE)",
                signal.SIGBUS: "a bus error (SIGBUS)"}


# ---- processes ---------------------------------------------------------------------------------------------------

def become_subreaper() -> None:
    """Linux: orphaned descendants are re-parented to this process (not to init), so they can be found."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else []:
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """CPU-seconds used so far by a process (all its threads); None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def kill_group(pgid: int) -> None:
    for _ in range(50):  # a group that keeps forking needs more than one round
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.005)


def sweep_orphans(keep: set[int]) -> list[int]:
    """Kill and reap processes re-parented to this one (detached leftovers of a grading process)."""
    killed = []
    for pid in _children_of(os.getpid()):
        if pid in keep:
            continue
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed.append(pid)
        except (ProcessLookupError, ChildProcessError):
            pass
    return killed


class ForkedProcess:
    def __init__(self, items: list, settings: Settings):
        self.pid = os.fork()
        if self.pid == 0:  # the grading process
            code = 0
            try:
                os.setpgid(0, 0)
                run_forked(items, settings)
            except BaseException:  # noqa: BLE001 — whatever happened, the parent reads the channel
                code = GRADER_FAILED
                try:
                    os.write(2, (GRADER_FAILED_LINE + traceback.format_exc()).encode())
                except Exception:  # noqa: BLE001
                    pass
            exit_now(code)
        try:
            os.setpgid(self.pid, self.pid)
        except OSError:
            pass
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        kill_group(self.pid)
        if self.returncode is None:
            try:
                self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            except ChildProcessError:
                self.returncode = -signal.SIGKILL


class SpawnedProcess:
    def __init__(self, items: list, settings: Settings, workdir: Path):
        config = items[0].config
        settings_file = Path(settings.channel).with_suffix(".settings.json")
        settings_file.write_text(json.dumps({**asdict(settings), "scale": asdict(settings.scale)}))
        command = [sys.executable, "-m", "pytest", *[item.nodeid for item in items], "-p", "no:cacheprovider",
                   "--rootdir", str(config.rootpath), "--workbook-child", str(settings_file)]
        if config.pluginmanager.has_plugin("shared.grading.plugin"):
            command[3:3] = ["-p", "shared.grading.plugin"]
        with open(settings.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=config.rootpath, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, **_new_group())
        self.pid = self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def kill(self) -> None:
        if os.name == "posix":
            kill_group(self.pid)
        else:
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(self.pid)], capture_output=True)
        self.process.kill()
        self.process.wait()


def _new_group() -> dict:
    if os.name == "posix":
        return {"start_new_session": True}
    return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}


# ---- one test file --------------------------------------------------------------------------------------------

@dataclass
class FileRun:
    """The items of one test file, run in as many grading processes as crashes require."""
    items: list
    workdir: Path
    mode: str
    settings: Settings
    reports: dict = field(default_factory=dict)     # nodeid -> [TestReport]; an entry is complete once final
    done: set = field(default_factory=set)          # nodeids whose reports are final
    flag: str = ""
    notes: list = field(default_factory=list)
    attempt: int = 0

    def __post_init__(self):
        self.process = None
        self.config = self.items[0].config
        self.by_id = {item.nodeid: item for item in self.items}

    @property
    def finished(self) -> bool:
        return len(self.done) == len(self.items)

    def remaining(self) -> list:
        return [item for item in self.items if item.nodeid not in self.done]

    def start(self) -> None:
        self.attempt += 1
        stem = self.workdir / f"{Path(str(self.items[0].path)).stem}-{self.attempt}"
        settings = Settings(self.settings.scale, self.settings.threads, str(stem) + ".jsonl", str(stem) + ".log",
                            self.settings.protected)
        self.reader, self.log = channel.Reader(Path(settings.channel)), Path(settings.log)
        self.current, self.started_at, self.started_cpu, self.completed_here = None, time.monotonic(), None, 0
        self.aborted = self.imported = False
        self.expected = [item.nodeid for item in self.remaining()]
        remaining = self.remaining()
        if self.mode == "fork":
            self.process = ForkedProcess(remaining, settings)
        else:
            self.process = SpawnedProcess(remaining, settings, self.workdir)

    def poll(self) -> None:
        """Read the channel and watch the clock; restarts or finishes the run when its process ends."""
        for message in self.reader.messages():
            self._handle(message)
        if self.process.poll() is not None:
            for message in self.reader.messages():  # whatever it wrote just before it ended
                self._handle(message)
            self._ended()
            return
        if self.current is not None:
            item = self.by_id[self.current]
            cpu = process_cpu(self.process.pid)
            used = None if cpu is None or self.started_cpu is None else cpu - self.started_cpu
            if self.settings.scale.should_kill(budget_of(item), used, time.monotonic() - self.started_at):
                self.process.kill()
                self._finish_current("timed out",
                                     f"timed out: still running after {time.monotonic() - self.started_at:.0f} s "
                                     f"({used if used is not None else float('nan'):.0f} CPU-s), past its budget, and "
                                     f"it ignored the autograder's request to stop (does your code catch every "
                                     f"exception, or wait on something that never comes?). The process was killed.")
                self._ended(killed=True)

    def _handle(self, message: dict) -> None:
        kind, nodeid = message.get("kind"), message.get("nodeid")
        if kind == "start" and self._expected_next(nodeid):
            self.current, self.started_at = nodeid, time.monotonic()
            self.started_cpu = process_cpu(self.process.pid)
        elif kind == "report" and nodeid == self.current:
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=message.get("data"))
            if isinstance(report, TestReport) and report.nodeid == nodeid:
                self.reports.setdefault(nodeid, []).append(report)
                if report.when == "teardown":
                    self.done.add(nodeid)
                    self.current, self.completed_here = None, self.completed_here + 1
        elif kind == "flag" and not self.flag:
            self.flag = str(message.get("text", ""))[:2000]
        elif kind == "abort" and nodeid == self.current:
            self._finish_current("failing", f"{message.get('reason', 'the test stopped the grading process')}"[:2000])
            self.aborted = True
        elif kind == "imported":
            self.imported = True
        elif kind == "done":
            pass
        else:
            self.notes.append(f"unexpected message from the grading process: {str(message)[:120]}")
            self.flag = self.flag or ("the grading process sent results out of order: something in this exercise's "
                                      "code wrote to the autograder's channel. This exercise scores 0.")

    def _expected_next(self, nodeid) -> bool:
        pending = [n for n in self.expected if n not in self.done]
        return self.current is None and bool(pending) and nodeid == pending[0]

    def _finish_current(self, status: str, message: str) -> None:
        if self.current is None:
            pending = [n for n in self.expected if n not in self.done]
            if not pending:
                return
            self.current = pending[0]
        item = self.by_id[self.current]
        self.reports[self.current] = [synthetic_report(item, status, message)]
        self.done.add(self.current)
        self.current = None

    def _ended(self, killed: bool = False) -> None:
        self.process.kill()  # the group: leftover children, threads die with the process
        if not (self.finished or killed or self.aborted):
            self._finish_current("crashed", f"crashed: {describe_exit(self.process.returncode, self.log)}")
        self._after_stop(killed)

    def _after_stop(self, killed: bool) -> None:
        if self.finished:
            return
        # After a crash, the rest runs in a new process. After a hang, only if the module had been imported and
        # something ran: a module that hangs while being imported would hang every test the same way.
        restart = not killed or self.completed_here > 0 or self.imported
        if restart and self.attempt <= len(self.items):
            self.start()
            return
        why = "the exercise's module hung before its first test could finish (see above), so it was not run again"
        for item in self.remaining():
            self.reports[item.nodeid] = [synthetic_report(item, "timed out", f"not run: {why}")]
            self.done.add(item.nodeid)


def describe_exit(code: int | None, log: Path) -> str:
    if code is None:
        what = "the process ended"
    elif code < 0:
        what = f"the process was ended by {SIGNAL_NAMES.get(-code, signal.Signals(-code).name)}"
    elif code == GRADER_FAILED and GRADER_FAILED_LINE in _log_tail(log):
        trace = _log_tail(log).split(GRADER_FAILED_LINE)[-1].strip().splitlines()
        return f"the autograder itself failed while grading this file ({trace[-1] if trace else 'no traceback'})"
    elif code == 0:
        what = "the process exited (code 0) in the middle of the test: does your code call os._exit() or sys.exit()?"
    else:
        what = f"the process exited with code {code}: does your code call os._exit({code}) or sys.exit({code})?"
    text = _log_tail(log)
    where = _learner_frame(text)
    tail = _printed(text)
    return what + (f" It happened in {where}." if where else "") + (f" The last lines it printed:\n{tail}" if tail else "")


def _log_tail(log: Path) -> str:
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def _learner_frame(text: str) -> str:
    """The innermost frame of the learner's tree in a faulthandler dump (most recent call first)."""
    root = str(exercises.target_root())
    for path, line, function in _FRAME.findall(text):
        if path.startswith(root):
            return f"{os.path.relpath(path, Path.cwd()) if path.startswith(str(Path.cwd())) else path}, " \
                   f"line {line}, in {function}"
    return ""


def _printed(text: str, count: int = 12, chars: int = 1500) -> str:
    noise = ("WARNING: All log messages before absl", "oneDNN custom operations", "Fatal Python error",
             "Current thread", "Thread 0x", "  File ", "Extension modules:", "Stack (most recent")
    lines = [line[:200] for line in text.splitlines() if line.strip() and not line.startswith(noise)
             and not line.startswith("I0000")]
    return "\n".join(f"    | {line}" for line in lines[-count:])[-chars:]


def synthetic_report(item, status: str, message: str) -> TestReport:
    report = TestReport(item.nodeid, item.location, {}, "failed", message, "call", [], 0.0)
    report.workbook_status = status
    return report


# ---- the whole session --------------------------------------------------------------------------------------

def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _stop_gracefully() -> dict:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does: the scoreboard and the grades of what finished survive."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            previous[getattr(signal, name)] = signal.signal(getattr(signal, name), _interrupt)
    return previous


def choose_mode(config) -> str:
    wanted = config.getoption("workbook_isolation", "auto")
    if wanted == "auto":
        if config.getoption("usepdb", False) or config.getoption("trace", False):
            return "none"
        return "fork" if sys.platform.startswith("linux") and hasattr(os, "fork") else "spawn"
    return wanted


def choose_jobs(config) -> int:
    jobs = config.getoption("workbook_jobs", 0)
    return jobs if jobs > 0 else (2 if (os.cpu_count() or 1) >= 2 else 1)


def _calibrate(mode: str, threads: int, workdir: Path) -> Scale:
    """Time the calibration workload where it cannot affect the grading processes (see budget.py)."""
    if mode != "fork":
        return calibrate()
    path = workdir / "calibration.jsonl"
    pid = os.fork()
    if pid == 0:
        try:
            if threads:
                import torch

                torch.set_num_threads(threads)
            scale = calibrate()
            channel.send(path, "calibration", wall=scale.wall, cpu=scale.cpu)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    found = [m for m in channel.Reader(path).messages() if m.get("kind") == "calibration"]
    return Scale(found[0]["wall"], found[0]["cpu"]) if found else Scale()


def preload_tensorflow(items: list) -> None:
    """Import TensorFlow once in the parent when several files need it: forked processes then share it."""
    files = {Path(str(item.path)) for item in items}
    needing = [path for path in files if "keras" in path.read_text(errors="ignore")]
    if len(needing) >= 2:
        import keras  # noqa: F401 — imports TensorFlow (quietly: shared/tf_logging.py)


class Session:
    """Runs every test file of a pytest session in grading processes; reports reach pytest as if run here."""

    def __init__(self, session, mode: str, jobs: int, protected: tuple = ()):
        self.session, self.mode, self.jobs, self.protected = session, mode, jobs, protected
        self.config = session.config
        self.flags: dict[str, str] = {}
        self.interrupted = False

    def run(self) -> None:
        files: dict = {}
        for item in self.session.items:
            files.setdefault(str(item.path), []).append(item)
        self.jobs = max(1, min(self.jobs, len(files)))
        # One torch thread per grading process, always: the tests' tensors are tiny, and on a busy machine two
        # OpenMP threads spin waiting for each other, which multiplied a test's CPU time by up to 60 (bench/).
        threads = 1
        become_subreaper()
        stops = _stop_gracefully()
        if self.mode == "fork":
            preload_tensorflow(self.session.items)
        with tempfile.TemporaryDirectory(prefix="workbook-grading-") as tmp:
            workdir = Path(tmp)
            scale = _calibrate(self.mode, threads, workdir).times(self.config.getoption("workbook_time_scale"))
            settings = Settings(scale, threads, protected=self.protected)
            self.scale = settings.scale
            runs = [FileRun(items, workdir, self.mode, settings) for items in files.values()]
            try:
                self._schedule(runs)
            except KeyboardInterrupt:  # Ctrl-C: stop, and report the files that finished (the rest: not run)
                self.interrupted = True
                for run in runs:
                    if run.process is not None and run.process.returncode is None:
                        run.process.kill()
                for run in runs:
                    if run.finished and not getattr(run, "emitted", False):
                        self._emit(run)
                raise
            finally:
                sweep_orphans(keep=set())
                for sig, handler in stops.items():
                    signal.signal(sig, handler)

    def _schedule(self, runs: list[FileRun]) -> None:
        waiting, running, emitted = list(runs), [], 0
        while emitted < len(runs):
            while waiting and len(running) < self.jobs:
                run = waiting.pop(0)
                run.start()
                running.append(run)
            for run in list(running):
                run.poll()
                if run.finished:
                    running.remove(run)
                    sweep_orphans(keep={r.process.pid for r in running})
            while emitted < len(runs) and runs[emitted].finished:
                self._emit(runs[emitted])  # whole files, in order: a flag can still void a file's earlier tests
                emitted += 1
            time.sleep(POLL_S)

    def _emit(self, run: FileRun) -> None:
        run.emitted = True
        if run.flag:
            path = Path(str(run.items[0].path))
            self.flags[f"{path.parent.name}/{path.stem.removeprefix('test_')}"] = run.flag
        for item in run.items:
            ihook = item.ihook
            ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
            for report in run.reports[item.nodeid]:
                if run.flag and (report.when == "call" or report.failed):
                    report.outcome, report.longrepr, report.workbook_status = "failed", run.flag, "flagged"
                ihook.pytest_runtest_logreport(report=report)
            ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
