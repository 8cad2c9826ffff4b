"""``catlm eval`` and ``catlm.compile``: compiled kernels carry their elements' names, show as a
table in a notebook, stay numpy arrays, and printing one is held to the memory budget."""
from __future__ import annotations

import json
import sys
import time
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import pytest

import catlm
from catlm.backends.labelled import LabelledKernel
from catlm.cli import main

COIN = """object Coin = {heads, tails}
object Die = fin 3
kernel flip : I -> Coin = [1/3, 2/3]
kernel roll : Coin -> Die = [[1/2, 1/4, 1/4], [0, 0, 1]]
kernel both = flip >> copy >> (id @ roll)
"""


@pytest.fixture
def coin(tmp_path):
    path = tmp_path / "coin.cat"
    path.write_text(COIN)
    return path


def test_compile_returns_the_tensor_with_its_element_names():
    k = catlm.compile(catlm.parse(COIN).kernels["both"], exact=True)
    assert isinstance(k, LabelledKernel) and k.name == "both"
    assert k.dom_elements == () and k.cod_elements == (("heads", "tails"), ("0", "1", "2"))
    expected = [[Fraction(1, 6), Fraction(1, 12), Fraction(1, 12)], [0, 0, Fraction(2, 3)]]
    assert np.asarray(k).tolist() == expected  # the same array numpy sees
    assert k.shape == (2, 3) and k[1, 2] == Fraction(2, 3) and k.sum() == 1
    assert (k == 0).tolist() == [[False, False, False], [True, True, False]]
    assert np.allclose(np.asarray(k, dtype=float) * 12, [[2, 1, 1], [0, 0, 8]])


def test_a_compiled_kernel_is_an_html_table_in_a_notebook():
    k = catlm.compile(catlm.parse(COIN).kernels["roll"], exact=True)
    table = ET.fromstring(k._repr_html_())
    assert table.find("caption").text == "roll : Coin -> Die"
    cells = [[c.text for c in row] for row in table.iter("tr")]
    assert cells == [[None, "0", "1", "2"], ["heads", "1/2", "1/4", "1/4"], ["tails", "0", "0", "1"]]


def test_a_large_table_shows_its_corners():
    spec = catlm.parse("object A = fin 100\nobject B = fin 50\nkernel f : A -> B\n")
    table = ET.fromstring(catlm.compile(spec.kernels["f"], seed=0)._repr_html_())
    rows = list(table.iter("tr"))
    assert len(rows) == 1 + 41 and len(rows[0]) == 1 + 21  # 20 + 20 rows, 10 + 10 columns, ellipses
    assert rows[21][0].text == "…" and rows[-1][0].text == "99" and rows[0][-1].text == "49"


def test_eval_json_names_the_elements_of_every_axis(coin, capsys):
    assert main(["eval", str(coin), "-k", "roll", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["dom_elements"] == [["heads", "tails"]] and got["cod_elements"] == [["0", "1", "2"]]
    assert got["array"] == [[0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]


def test_eval_refuses_a_float_output_too_large_to_print_before_computing_it(tmp_path, capsys):
    path = tmp_path / "big.cat"
    path.write_text("object A = fin 2000\nobject B = fin 1000\nkernel f : A -> B\n")
    start = time.perf_counter()
    # 2e6 float entries: the array (16 MB) fits 50 MB, printing it (~150 MB of JSON) does not;
    # scaled up 100 times this is the default 2 GiB budget and a 15 GB JSON text
    assert main(["eval", str(path), "-k", "f", "--json", "--seed", "0", "--budget", "50000000"]) == 1
    assert time.perf_counter() - start < 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:3:1: error: printing `f`") and "2,000,000 entries" in err
    assert "--budget 192000000" in err


def test_eval_prints_what_fits_the_budget(tmp_path, capsys):
    path = tmp_path / "mid.cat"
    path.write_text("object A = fin 20\nobject B = fin 10\nkernel f : A -> B\n")
    assert main(["eval", str(path), "-k", "f", "--json", "--budget", str(200 * 96)]) == 0
    assert len(json.loads(capsys.readouterr().out)["array"]) == 20
    assert main(["eval", str(path), "-k", "f", "--json", "--budget", str(200 * 96 - 1)]) == 1


def test_printing_a_compiled_kernel_prints_its_labelled_table():
    k = catlm.compile(catlm.parse(COIN).kernels["roll"], exact=True)
    assert str(k) == k.text() and repr(k).startswith("LabelledKernel(roll : Coin -> Die, array(")
    assert k.text().splitlines() == ["roll : Coin -> Die", "         0    1    2",
                                     "heads  1/2  1/4  1/4", "tails    0    0    1"]


def test_exact_output_is_held_to_its_larger_size_per_entry(tmp_path, capsys):
    path = tmp_path / "mid.cat"
    path.write_text("object A = fin 20\nobject B = fin 10\nkernel f : A -> B\n")
    assert main(["eval", str(path), "-k", "f", "--json", "--budget", str(200 * 96)]) == 0
    assert main(["eval", str(path), "-k", "f", "--json", "--exact", "--budget", str(200 * 96)]) == 1
    assert "--budget 32000" in capsys.readouterr().err  # 200 entries, 160 bytes each


def test_exact_values_with_thousands_of_digits_are_printed(tmp_path, capsys):
    """s >> k^4000 has denominators 2·21^4000 (5,290 digits), past Python's int-to-str limit."""
    n = 4_000
    path = tmp_path / "long.cat"
    path.write_text("object A = {x, y}\nkernel k : A -> A = [[1/3, 2/3], [2/7, 5/7]]\n"
                    "kernel s : I -> A = [1/2, 1/2]\n"
                    f"kernel c = s >> {' >> '.join(['k'] * n)}\n", encoding="utf-8")
    state = [Fraction(1, 2), Fraction(1, 2)]
    for _ in range(n):                                   # the oracle: the chain by hand
        state = [state[0] * Fraction(1, 3) + state[1] * Fraction(2, 7),
                 state[0] * Fraction(2, 3) + state[1] * Fraction(5, 7)]
    assert main(["eval", str(path), "-k", "c", "--exact", "--json"]) == 0
    out = capsys.readouterr().out
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)                        # to read the digits back here
    try:
        printed = json.loads(out)["array"]
        assert [Fraction(v) for v in printed] == state and len(printed[0]) > 5_000
    finally:
        sys.set_int_max_str_digits(limit)
    assert main(["eval", str(path), "-k", "c", "--exact"]) == 0
    assert "Traceback" not in capsys.readouterr().err
