from rnn_studio.engine.follow import MetricsTail


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
