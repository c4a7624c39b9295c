"""Inside the process that grades one exercise: run its tests, watch the learner's code, send the reports.

The parent (shared/grading/isolation.py) starts this process per test file, forked from itself (Linux) or as a
fresh `pytest --workbook-child` (elsewhere). Here:
- the process's output goes to a log file, its stdin is /dev/null, and pytest's capture starts afresh;
- the guards start before the learner's module is imported (guards.py);
- each test runs under its time budget (budget.py) and its reports go to the parent through the channel, the
  learner's printed output capped and labelled as theirs;
- the process ends with os._exit: the learner's atexit handlers and leftover threads never run.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.grading import channel
from shared.grading.budget import DEFAULT_BUDGET_S, BudgetExceeded, Scale, cpu_seconds

OUTPUT_LINES_SHOWN = (30, 10)   # first and last lines of a test's captured output kept in its report
OUTPUT_LINE_CHARS = 300


@dataclass
class Settings:
    """What the parent decides once for every grading process of a run."""
    scale: Scale = field(default_factory=Scale)
    threads: int = 0            # torch intra-op threads; 0 leaves torch's default
    channel: str = ""
    log: str = ""
    protected: tuple = ()       # paths the learner's code may not write (guards.AuditGuard)


def budget_of(item) -> float:
    marker = item.get_closest_marker("timeout")
    return float(marker.args[0]) if marker and marker.args else DEFAULT_BUDGET_S


def exercise_of(item) -> tuple[str, str]:
    path = Path(str(item.path))
    return path.parent.name, path.stem.removeprefix("test_")


# ---- the process ------------------------------------------------------------------------------------------------

def redirect_output(log_path: str) -> None:
    """Point stdout/stderr at the log file and stdin at /dev/null, and restart pytest's capture on them."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    for target, source in ((0, null), (1, log), (2, log)):
        os.dup2(source, target)
    os.close(log), os.close(null)


def restart_capture(config, log_path: str | None) -> None:
    capman = config.pluginmanager.get_plugin("capturemanager")
    capturing = capman is not None and capman.is_globally_capturing()
    if capturing:
        capman.stop_global_capturing()  # restores the parent's terminal on fds 1 and 2 ...
    if log_path:
        redirect_output(log_path)       # ... which this process then leaves for its own log
        faulthandler.enable(2, all_threads=False)  # a segfault's Python traceback goes to the log, not the terminal
    if capturing:
        capman.start_global_capturing()
        capman.suspend_global_capture()


def quiet_reporter(config) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        config.pluginmanager.unregister(reporter)


def lower_priority() -> None:
    """If the machine runs out of memory, the kernel should stop this process, not the parent."""
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("800")
    except OSError:
        pass


def set_threads(threads: int) -> None:
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


# ---- reports ----------------------------------------------------------------------------------------------------

def _cap(text: str) -> str:
    lines = text.splitlines()
    head, tail = OUTPUT_LINES_SHOWN
    clip = [line if len(line) <= OUTPUT_LINE_CHARS else line[:OUTPUT_LINE_CHARS] + " …" for line in lines]
    if len(clip) > head + tail:
        clip = clip[:head] + [f"… {len(lines) - head - tail:,} more lines not shown …"] + clip[-tail:]
    return "\n".join(clip)


def _label(title: str) -> str:
    # "Captured stdout call" -> "your code's output (stdout, during the test)"
    words = title.split()
    if len(words) == 3 and words[0] == "Captured":
        phase = {"setup": "while setting up the test", "call": "during the test", "teardown": "after the test"}
        return f"what your code printed ({words[1]}, {phase.get(words[2], words[2])})"
    return title


def cap_report(report) -> None:
    """Learner output: shown for failing tests only (pytest's default), capped and labelled as theirs."""
    report.sections = [(_label(title), _cap(text)) for title, text in report.sections]
    text = getattr(report, "longreprtext", "")
    if len(text) > channel.MAX_MESSAGE_BYTES // 4:
        report.longrepr = text[:4000] + f"\n… ({len(text):,} characters; the rest not shown) …\n" + text[-2000:]


def fail_report(report, message: str, status: str = "failing") -> None:
    report.outcome, report.longrepr, report.workbook_status = "failed", message, status


# ---- the run ----------------------------------------------------------------------------------------------------

SCALE: Scale | None = None  # set in a grading process: the budgets' scale for every phase (plugin.py)


class Grading:
    """Runs the items of one test file in this process and reports each to the parent."""

    def __init__(self, items: list, settings: Settings):
        self.items, self.settings = items, settings
        self.config = items[0].config
        self.flagged = ""

    def send(self, kind: str, **fields) -> None:
        channel.send(self.settings.channel, kind, **fields)

    def run(self) -> None:
        global SCALE
        from _pytest.runner import runtestprotocol

        from shared.grading import guards, target

        SCALE = self.settings.scale
        week, name = exercise_of(self.items[0])
        tampering, audit = guards.install(week, name, [Path(p) for p in self.settings.protected])
        target.on_imported(lambda: self.send("imported"))
        for index, item in enumerate(self.items):
            nextitem = self.items[index + 1] if index + 1 < len(self.items) else None
            self.send("start", nodeid=item.nodeid)
            start_cpu, start_wall = cpu_seconds(), time.perf_counter()
            try:
                reports = runtestprotocol(item, log=False, nextitem=nextitem)  # budgets: plugin.pytest_runtest_*
            except BaseException as error:  # KeyboardInterrupt, pytest.exit
                self.send("abort", nodeid=item.nodeid, reason=_describe_abort(error))
                return
            cpu, wall = cpu_seconds() - start_cpu, time.perf_counter() - start_wall
            problems = tampering.check() + audit.problems()
            if problems and not self.flagged:
                self.flagged = guards.describe(problems)
                self.send("flag", nodeid=item.nodeid, text=self.flagged)
            for report in reports:
                if self.flagged and (report.when == "call" or report.failed):
                    fail_report(report, self.flagged, "flagged")
                cap_report(report)
                report.workbook_cpu_s, report.workbook_wall_s = round(cpu, 3), round(wall, 3)
                data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
                self.send("report", nodeid=item.nodeid, data=data)
        self.send("done")


def _describe_abort(error: BaseException) -> str:
    kind = type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        return "your code raised KeyboardInterrupt (or the process got Ctrl-C): the test was stopped"
    if kind == "Exit":
        return f"your code called pytest.exit({str(error)!r}): a test must not end the test run"
    if isinstance(error, BudgetExceeded):
        return str(error)
    return f"the grading process stopped with {kind}: {error}"


def run_forked(items: list, settings: Settings) -> None:
    """In a process forked from the parent pytest: make it a clean grading process, then grade."""
    import signal

    for name in ("SIGTERM", "SIGHUP", "SIGINT"):  # the parent's handlers stop the parent, not this process
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL if name != "SIGINT" else signal.default_int_handler)
    config = items[0].config
    restart_capture(config, settings.log)
    quiet_reporter(config)
    lower_priority()
    set_threads(settings.threads)
    Grading(items, settings).run()


def run_spawned(session, settings: Settings) -> None:
    """In a fresh `pytest --workbook-child SETTINGS` process (stdout/stderr already go to the log)."""
    quiet_reporter(session.config)
    faulthandler.enable(2, all_threads=False)
    lower_priority()
    set_threads(settings.threads)
    Grading(list(session.items), settings).run()


def exit_now(code: int) -> None:
    """End the grading process without running atexit handlers or waiting for the learner's threads."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 — the learner may have closed or replaced it
            pass
    os._exit(code)
