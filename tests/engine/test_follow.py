from rnn_studio.engine.training.follow import MetricsTail


def test_tail_reads_only_complete_lines_and_resumes(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read_new() == []  # not there yet
    with open(path, "wb") as f:
        f.write(b'{"kind": "step", "loss": 1.0}\n{"kind": "st')
        f.flush()
        assert tail.read_new() == [{"kind": "step", "loss": 1.0}]
        f.write(b'ep", "loss": 0.5}\nnot json\n{"kind": "epoch"}\n')
        f.flush()
        assert tail.read_new() == [{"kind": "step", "loss": 0.5}, {"kind": "epoch"}]
    assert tail.bad_lines == 1
    assert tail.read_new() == []


def test_tail_follows_a_resume_that_cut_a_torn_line(tmp_path):
    from rnn_studio.engine.training.runs import MetricsWriter

    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"kind": "step", "step": 1, "epoch": 1}\n{"kind": "step", "st')  # writer killed mid-line
    tail = MetricsTail(path)
    assert [r["step"] for r in tail.read_records()] == [1]
    writer = MetricsWriter(path, append=True)  # a resume: cuts the torn line, appends whole records
    writer.write({"kind": "step", "step": 2, "epoch": 1})
    writer.write({"kind": "step", "step": "bad", "epoch": 1})
    writer.close()
    assert [r["step"] for r in tail.read_records()] == [2]  # nothing merged with the torn bytes
    assert tail.bad_lines == 1
    assert path.read_text().count("\n") == 3 and all(line.endswith("}") for line in path.read_text().splitlines())
