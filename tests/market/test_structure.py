"""The contract's parts talk through its public API: no module of `testbed.market` reaches
into another's private names or an object's ``__dict__``, none imports the contract back
(no cycle), and none imports the off-chain actors (`testbed.agents`)."""

import ast
from pathlib import Path

import testbed.market

MARKET = Path(testbed.market.__file__).parent
MODULES = sorted(MARKET.glob("*.py"))


def _tree(path):
    return ast.parse(path.read_text(), str(path))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, set()


def test_no_private_attribute_of_another_object_and_no_dict_writes():
    found = []
    for path in MODULES:
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Attribute):
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if node.attr == "__dict__" or (private and owner not in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno} {owner}.{node.attr}")
    assert found == []


def test_only_the_contract_imports_its_handlers_and_nothing_imports_the_contract():
    importers = {}
    for path in MODULES:
        for module, names in _imports(_tree(path)):
            assert not module.startswith("testbed.agents"), path.name
            if module == "testbed.market.contract":
                importers.setdefault("contract", []).append(path.name)
            if module == "testbed.market":
                for name in names & {"contract"}:
                    importers.setdefault(name, []).append(path.name)
    assert importers.get("contract", []) == ["verify.py"]  # the verifier, which runs it
