"""A hashed table's digest is a function of its contents alone, however it got there."""

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.ledger.tables import HashedTable

keys = st.one_of(st.binary(min_size=32, max_size=32), st.integers(0, 2**40),
                 st.tuples(st.integers(0, 2**40), st.binary(min_size=32, max_size=32)))
ops = st.lists(st.tuples(st.sampled_from(["set", "del", "pop", "copy", "digest"]), keys,
                         st.integers(-2**60, 2**60)), max_size=60)


def _fresh(contents):
    table = HashedTable()
    for key, value in sorted(contents.items(), key=lambda kv: repr(kv[0])):
        table[key] = value
    return table


@settings(max_examples=300, deadline=None)
@given(ops)
def test_any_history_gives_the_digest_of_its_contents(history):
    table, model = HashedTable(), {}
    for op, key, value in history:
        if op == "set":
            table[key] = model[key] = value
        elif op == "del" and key in model:
            del table[key], model[key]
        elif op == "pop":
            assert table.pop(key, None) == model.pop(key, None)
        elif op == "copy":
            before = table.digest()
            table = table.copy()
            assert table.digest() == before
        else:
            table.digest()
    assert dict(table) == model
    assert table.digest() == _fresh(model).digest()


def test_copies_are_independent_and_every_change_shows():
    a = HashedTable()
    a[b"x" * 32] = 1
    b = a.copy()
    b[b"x" * 32] = 2
    assert a.digest() != b.digest()
    del b[b"x" * 32]
    assert b.digest() == HashedTable().digest() != a.digest()
