"""The design: what a network is, before any data. No Qt; torch only in layers.py and compile.py.

    project    the design as data (blocks, links, training section), JSON in/out, versioned
    events     the project's change events (pure Python connect/emit; gui/bridge.py turns them into signals)
    params     one `Param` per block parameter: check, inspector widget, JSON Schema and docs
    blocks     one `BlockDef` per block type (shape rule, torch construction, cost hooks)
    cost       MACs, parameters and activation bytes per block
    shapes     check(project) -> per-block shapes, errors and warnings (the rules the designer shows live)
    resources  memory a design needs to train; settings: the training section's values
    schema     the project file's JSON Schema; docs: docs/project-format.md from the catalog
    layers     torch modules plain torch lacks; compile: design -> torch.nn.Module

Imports only engine.limits from outside itself.
"""
