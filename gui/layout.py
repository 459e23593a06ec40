"""Auto-arrange: a small layered (Sugiyama-style) layout, top to bottom. Pure Python over block ids and
links: layers by longest path, dummy nodes for links that skip layers (so they get a lane of their
own), barycentre ordering sweeps, then x positions pulled towards the parents without overlaps.
"""

from __future__ import annotations

BLOCK_W, BLOCK_H = 208.0, 76.0
LAYER_GAP = 64.0  # vertical gap between layers: room for a shape label on the wire
COL_GAP = 48.0
DUMMY_W = 56.0


def layered_layout(ids: list[str], links: list[tuple[str, str]], origin=(0.0, 0.0)) -> dict[str, tuple[float, float]]:
    """Top-left positions for every id. Cycles are tolerated (back links are ignored)."""
    ids = list(dict.fromkeys(ids))
    idset = set(ids)
    edges = [(s, d) for s, d in dict.fromkeys(links) if s in idset and d in idset and s != d]
    rank, dag = _acyclic(ids, edges)
    layer, ins, outs = _layers(ids, rank, dag)
    preds, succs, width = _with_dummies(ids, dag, layer, ins, outs)
    rows = _ordered_rows(layer, rank, preds, succs)
    x = _x_positions(rows, preds, succs, width)
    # centre the whole drawing on the origin's x
    xs = [x[n] for n in ids] or [0.0]
    shift = -(min(xs) + max(xs)) / 2
    ox, oy = origin
    out = {}
    for n in ids:
        out[n] = (round(ox + x[n] + shift - BLOCK_W / 2), round(oy + layer[n] * (BLOCK_H + LAYER_GAP)))
    return out


def _acyclic(ids, edges):
    """Break cycles: (rank of each id in a DFS topological order, the edges consistent with it)."""
    order, state, children = [], {}, {}
    for s, d in edges:  # a child list per id: scanning every edge per block took 11 ms at 400 blocks
        children.setdefault(s, []).append(d)

    def visit(n):
        stack = [(n, iter(children.get(n, ())))]
        state[n] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(nxt) is None:
                state[nxt] = 1
                stack.append((nxt, iter(children.get(nxt, ()))))

    for n in ids:
        if n not in state:
            visit(n)
    rank = {n: i for i, n in enumerate(reversed(order))}
    return rank, [(s, d) for s, d in edges if rank[s] < rank[d]]


def _layers(ids, rank, dag):
    """(layer of each id: the longest path from the sources, its parents, its children)."""
    outs = {i: [] for i in ids}
    ins = {i: [] for i in ids}
    for s, d in dag:
        outs[s].append(d)
        ins[d].append(s)
    layer = {}
    for n in sorted(ids, key=rank.get):
        layer[n] = max((layer[p] + 1 for p in ins[n]), default=0)
    return layer, ins, outs


def _with_dummies(ids, dag, layer, ins, outs):
    """A dummy node on every layer a long edge skips (so it gets a lane of its own): added to `layer`;
    returns (parents, children, width) of real and dummy nodes."""
    width = {n: BLOCK_W for n in ids}
    preds = {n: list(ins[n]) for n in ids}
    succs = {n: list(outs[n]) for n in ids}
    for k, (s, d) in enumerate(dag):
        if layer[d] - layer[s] > 1:
            prev = s
            succs[s].remove(d)
            preds[d].remove(s)
            for li in range(layer[s] + 1, layer[d]):
                dummy = f"\0dummy{k}:{li}"
                layer[dummy], width[dummy] = li, DUMMY_W
                preds[dummy], succs[dummy] = [prev], []
                succs[prev].append(dummy)
                prev = dummy
            succs[prev].append(d)
            preds[d].append(prev)
    return preds, succs, width


def _ordered_rows(layer, rank, preds, succs):
    """The nodes of each layer, left to right: file order first (dummies after their source), then six
    barycentre sweeps, down and up in turn."""
    n_layers = max(layer.values(), default=-1) + 1
    rows = [[] for _ in range(n_layers)]
    for n in sorted(layer, key=lambda n: (rank.get(n, 0), n)):
        rows[layer[n]].append(n)
    pos_index = {}

    def reindex(row):
        for i, n in enumerate(row):
            pos_index[n] = i

    for row in rows:
        reindex(row)
    for sweep in range(6):
        rng = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        for li in rng:
            nbrs = preds if sweep % 2 == 0 else succs

            def bary(n, nbrs=nbrs):
                ns = nbrs[n]
                return sum(pos_index[m] for m in ns) / len(ns) if ns else pos_index[n]

            rows[li].sort(key=bary)
            reindex(rows[li])  # only this row's order changed (all rows each time was quadratic in layers)
    return rows


def _x_positions(rows, preds, succs, width):
    """Centre x of every node: pack each row, then pull towards the parents' / children's centres (five
    passes), keeping order and spacing."""
    n_layers = len(rows)
    x = {}
    for row in rows:
        cur = 0.0
        for n in row:
            x[n] = cur + width[n] / 2
            cur += width[n] + COL_GAP
    down, up = list(range(1, n_layers)), list(range(n_layers - 2, -1, -1))
    for rng, nbrs in ((down, preds), (up, succs), (down, preds), (up, succs), (down, preds)):
        for li in rng:
            row = rows[li]
            want = {n: (sum(x[m] for m in nbrs[n]) / len(nbrs[n]) if nbrs[n] else x[n]) for n in row}
            _place_row(row, want, width, x)
    return x


def _place_row(row, want, width, x):
    """Place a row's nodes as close to `want` as order and spacing allow (left-to-right then back)."""
    placed = {}
    left = -1e18
    for n in row:
        cx = max(want[n], left + width[n] / 2)
        placed[n] = cx
        left = cx + width[n] / 2 + COL_GAP
    right = 1e18
    for n in reversed(row):
        cx = min(placed[n], right - width[n] / 2)
        placed[n] = cx
        right = cx - width[n] / 2 - COL_GAP
    x.update(placed)
