"""Project.paste: copy, duplicate and paste add a fragment with fresh ids and its own links only."""

from rnn_studio.engine import Block, Project


def design() -> Project:
    return Project.from_dict(
        {
            "format": "rnn-studio",
            "version": 1,
            "name": "d",
            "blocks": [
                {"id": "x", "type": "Input", "params": {"timesteps": 10, "features": 3}},
                {"id": "lstm1", "type": "LSTM", "params": {"units": 32, "return_sequences": True}},
                {"id": "lstm2", "type": "LSTM", "params": {"units": 16}},
                {"id": "y", "type": "Dense", "params": {"units": 1}},
            ],
            "links": [["x", "lstm1"], ["lstm1", "lstm2"], ["lstm2", "y"]],
            "layout": {"blocks": {"x": [0, 0], "lstm1": [100, 0], "lstm2": [200, 0], "y": [300, 0]}},
        }
    )


def fragment_of(project: Project, ids: list[str]) -> Project:
    """What the designer's clipboard holds for a selection: blocks, their positions, and every link
    that touches them (the ones leaving the selection must be dropped by paste)."""
    return Project(
        blocks=[project.block(i) for i in ids],
        links=[link for link in project.links if link[0] in ids or link[1] in ids],
        layout={"blocks": {i: list(project.position(i)) for i in ids}},
    )


def test_paste_renames_taken_ids_and_remaps_links_inside_the_fragment():
    p = design()
    mapping = p.paste(fragment_of(p, ["lstm1", "lstm2"]), offset=(32.0, 32.0))
    assert mapping == {"lstm1": "lstm3", "lstm2": "lstm4"}
    assert [b.id for b in p.blocks] == ["x", "lstm1", "lstm2", "y", "lstm3", "lstm4"]
    # the inner link follows the new ids; x -> lstm1 and lstm2 -> y left the fragment and are dropped
    assert p.links == [("x", "lstm1"), ("lstm1", "lstm2"), ("lstm2", "y"), ("lstm3", "lstm4")]
    assert p.position("lstm3") == (132.0, 32.0) and p.position("lstm4") == (232.0, 32.0)
    assert p.block("lstm3").params == {"units": 32, "return_sequences": True}


def test_paste_keeps_free_ids_and_copies_params():
    p = design()
    other = Project(blocks=[Block("enc", "GRU", {"units": 8})])
    fragment = Project(blocks=[Block("enc", "GRU", {"units": 8}), Block("lstm1", "LSTM", {})], links=[("enc", "lstm1")])
    assert p.paste(fragment, at=(50.0, 60.0), offset=(1.0, 2.0)) == {"enc": "enc", "lstm1": "lstm3"}
    assert ("enc", "lstm3") in p.links and p.position("enc") == (51.0, 62.0)
    fragment.blocks[0].params["units"] = 99  # the pasted block is a copy, not the fragment's object
    assert p.block("enc").params == {"units": 8} and other.block("enc").params == {"units": 8}


def test_paste_twice_gives_two_copies_and_removal_undoes_it_exactly():
    p = design()
    before = p.to_dict()
    frag = fragment_of(p, ["x", "lstm1", "lstm2", "y"])
    first = p.paste(frag, offset=(0.0, 200.0))
    second = p.paste(frag, offset=(0.0, 400.0))
    assert set(first.values()).isdisjoint(second.values())
    assert len(p.blocks) == 12 and len(p.links) == 9
    chain = [("x", "lstm1"), ("lstm1", "lstm2"), ("lstm2", "y")]
    assert p.links[6:] == [(second[a], second[b]) for a, b in chain]  # each copy is its own chain
    for new_id in reversed(list(second.values())):
        p.remove_block(new_id)
    for new_id in reversed(list(first.values())):
        p.remove_block(new_id)
    assert p.to_dict() == before


def test_paste_announces_each_block_and_link():
    p = design()
    seen = []
    p.changed.connect(lambda event: seen.append(type(event).__name__))
    p.paste(fragment_of(p, ["lstm1", "lstm2"]))
    assert seen == ["BlockAdded", "BlockAdded", "LinkAdded"]
