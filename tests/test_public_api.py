"""The curated public API: ``caretwin.__all__`` lists exactly the public names it exports."""

from __future__ import annotations

import types

import caretwin


def test_all_matches_the_public_names() -> None:
    # dir(), not vars(): most public names are imported on first use (module __getattr__).
    public = {
        name
        for name in dir(caretwin)
        if not name.startswith("_") and not isinstance(getattr(caretwin, name), types.ModuleType)
    }
    public.discard("annotations")  # from __future__
    assert sorted(caretwin.__all__) == sorted(public | {"__version__"})
    for name in caretwin.__all__:
        assert hasattr(caretwin, name), name


def test_all_is_sorted_and_unique() -> None:
    assert len(set(caretwin.__all__)) == len(caretwin.__all__)
    assert list(caretwin.__all__) == sorted(caretwin.__all__)


def test_every_error_derives_from_the_root() -> None:
    for name in caretwin.__all__:
        obj = getattr(caretwin, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, caretwin.CareTwinError)
