"""Issue 18: progress when the output is not a terminal (logs, CI, nohup): a line when a stage
starts, one every N seconds with the step, rate and ETA, one when it ends."""

from __future__ import annotations

import pytest

from privtune.progress import Lines, fmt_duration


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_line_every_n_seconds_with_rate_and_eta() -> None:
    lines: list[str] = []
    clock = Clock()
    rep = Lines(lines.append, every=10, shown={"loss": "loss"}, clock=clock)
    with rep.stage("train (LoRA)", 20) as p:
        for step in range(1, 21):
            clock.t += 2.0  # 2 s per step
            p(step, 20, {"loss": 1.0 / step, "secret_text": "never shown"})
    assert lines[0] == "[train (LoRA)] started (20 steps)"
    steps = [line for line in lines if " step " in line]
    assert len(steps) == 4  # at 10, 20, 30 and 40 s
    assert steps[0].startswith("[train (LoRA)] step 5/20, 2.0 s/step, ETA 30s, elapsed 10s")
    assert "loss 0.200" in steps[0]
    assert lines[-1].startswith("[train (LoRA)] done 20/20, 2.0 s/step, elapsed 40s")
    assert not any("never shown" in line for line in lines)


def test_fast_steps_show_steps_per_second_and_no_total_shows_running() -> None:
    lines: list[str] = []
    clock = Clock()
    rep = Lines(lines.append, every=1, clock=clock)
    with rep.stage("base model", 600) as p:
        clock.t += 1.0
        p(100, 600, {})
    assert "100.00 steps/s" in lines[1] and "ETA 5s" in lines[1]
    with rep.stage("evaluate") as p:
        clock.t += 1.0
        p(0, 0, {})
    assert lines[-2] == "[evaluate] running, elapsed 1s"


@pytest.mark.parametrize(("s", "want"), [(0, "0s"), (59.4, "59s"), (75, "1m15s"), (3700, "1h01m")])
def test_durations(s: float, want: str) -> None:
    assert fmt_duration(s) == want


def test_the_cli_prints_progress_lines_when_not_a_terminal(tmp_path, monkeypatch, capsys,
                                                          make_workspace, test_admin_key) -> None:
    """A CLI stage with stderr redirected prints lines, not a bar (the first `scan`)."""
    from privtune.access.apikeys import ENV_API_KEY
    from privtune.cli.main import run
    from privtune.synth import generate_company

    generate_company(8, 1, tmp_path / "export", fmt="csv")
    ws = make_workspace(tmp_path / "ws")
    ws.close()
    monkeypatch.setenv(ENV_API_KEY, test_admin_key)
    monkeypatch.setenv("PRIVTUNE_PROGRESS_EVERY", "0")
    assert run(["ingest", str(tmp_path / "export"), "-w", str(tmp_path / "ws")]) == 0
    assert run(["scan", "--workers", "1", "-w", str(tmp_path / "ws")]) == 0
    err = capsys.readouterr().err
    assert "[scanning texts] started" in err and "[scanning texts] done" in err
    assert "\x1b[" not in err  # no terminal control codes in a log
