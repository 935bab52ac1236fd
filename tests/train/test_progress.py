"""Off a terminal, progress is a plain line per interval (a log file shows the run moving), not a bar that draws nothing."""

import io

from rich.console import Console

from adaptlab.train.progress import PlainProgress, Progress, examples_progress, plain_progress_line, training_progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_file_gets_plain_progress_and_a_terminal_the_bar():
    assert isinstance(training_progress(Console(file=io.StringIO()), disable=False), PlainProgress)
    assert isinstance(training_progress(Console(file=io.StringIO(), force_terminal=True), disable=False), Progress)


def test_one_line_per_interval_and_one_at_the_last_step():
    log, clock = io.StringIO(), Clock()
    progress = PlainProgress(Console(file=log, width=200), interval_s=30, clock=clock)
    with progress:
        task = progress.add_task("lora", total=100, completed=0)
        for step in range(1, 101):
            clock.now = step * 1.0  # one step per second
            progress.update(task, completed=step, loss=f"{1 / step:.4f}", tokens_per_s="1,000")
    lines = log.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["30/100", "60/100", "90/100", "100/100"]
    assert lines[0] == "lora: step 30/100  loss 0.0333  1,000 tok/s  elapsed 0:00:30  ETA 0:01:10"
    assert lines[-1].endswith("ETA 0:00:00")


def test_disabled_progress_writes_nothing():
    log, clock = io.StringIO(), Clock()
    progress = PlainProgress(Console(file=log), disable=True, interval_s=0, clock=clock)
    task = progress.add_task("full", total=2)
    progress.update(task, completed=2, loss="1.0", tokens_per_s="5")
    assert log.getvalue() == ""


def test_eta_counts_only_the_steps_this_session_ran():
    """After --resume at step 50, 10 steps in 20 s leave 40 steps: 80 s."""
    assert plain_progress_line("full", 60, 100, "1.0", "5", elapsed_s=20, steps_done=10).endswith("ETA 0:01:20")
    assert plain_progress_line("full", 50, 100, "-", "-", elapsed_s=0, steps_done=0).endswith("ETA -")


def test_an_evaluation_counts_examples_in_plain_lines():
    log, clock = io.StringIO(), Clock()
    progress = examples_progress(Console(file=log, width=200))
    progress.clock, progress.interval_s = clock, 30
    task = progress.add_task("evaluating lora", total=90)
    for batch in range(1, 31):
        clock.now = batch * 2.0  # three examples every two seconds
        progress.advance(task, 3)
    progress.update(task, completed=90)  # marking it done again adds no line
    assert log.getvalue().splitlines() == [
        "evaluating lora: 45/90 examples  elapsed 0:00:30  ETA 0:00:30",
        "evaluating lora: 90/90 examples  elapsed 0:01:00  ETA 0:00:00",
    ]
