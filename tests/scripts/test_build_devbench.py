"""scripts/build_devbench.py: harvesting docstring pairs (no embedding), on stdlib packages."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import build_devbench  # noqa: E402
from docstrings import clean_docstring  # noqa: E402


def test_build_devbench__harvest_gives_clean_unique_pairs():
    records = build_devbench.collect(["email", "json", "no_such_package_xyz"], min_cluster=5, max_per_cluster=1000)
    assert len(records) >= 50
    for r in records:
        assert r["question"].strip() and r["source"].strip() and r["cluster"].strip()
        assert r["question"].lower() not in r["source"].lower()
        assert r["cluster"].split(".")[0] in ("email", "json")
    assert len({r["question"] for r in records}) == len(records)
    assert len({r["source"] for r in records}) == len(records)
    assert len({r["cluster"] for r in records}) >= 3
    assert all(sum(r["cluster"] == c for r in records) >= 5 for c in {r["cluster"] for r in records})


def test_build_devbench__small_families_join_their_package():
    sizes = {"big": 5, "small": 2, "tiny": 2}
    records = [{"family": f"pkg.{sub}.mod", "package": "pkg"} for sub, n in sizes.items() for _ in range(n)]
    clustered = build_devbench.assign_clusters(records, min_cluster=3)
    assert sorted({r["cluster"] for r in clustered}) == ["pkg", "pkg.big"]
    assert {r["cluster"] for r in build_devbench.assign_clusters(records, min_cluster=6)} == {"pkg"}
    assert build_devbench.assign_clusters(records, min_cluster=10) == []


def test_build_devbench__numpydoc_is_cleaned_to_prose():
    doc = """add(x1, x2, /, out=None)

    Add arguments element-wise, see :func:`~numpy.subtract` and ``out``.

    Parameters
    ----------
    x1 : array_like
        The arrays to be added.

        .. versionadded:: 1.2
           Details.

    Examples
    --------
    >>> np.add(1, 2)
    3
    """
    text = clean_docstring(doc)
    assert text.startswith("Add arguments element-wise, see numpy.subtract and out.")
    assert "Parameters:\nx1 : array_like" in text and "The arrays to be added." in text
    assert "---" not in text and ">>>" not in text and "versionadded" not in text and "Examples" not in text
