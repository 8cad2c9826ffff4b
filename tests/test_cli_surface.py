"""The command line's surface: installs without torch, usage errors, --help defaults, -k, no pickles.

The install without torch is a real virtual environment (``python -m venv``) holding exactly the
distributions that catlm's ``install_requires`` closure names, linked from the interpreter that
runs the tests (the wheels pip would install are those very files; linking them takes a second
where a pip install from the cache takes a minute and a half on two loaded cores). torch,
safetensors and the other extras are not in it, so the commands meet the missing extra the way a
user who ran ``pip install catlm`` does.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import catlm
from catlm.cli import COMMANDS, NEEDS, build_parser, main
from catlm.errors import SpecError, UsageError

ROOT = Path(__file__).resolve().parents[1]
COIN = ROOT / "examples" / "coin.cat"


# --- an install without torch ----------------------------------------------------------------------

def installed(name: str):
    """The distribution ``name`` as installed (not an ``egg-info`` of the working tree)."""
    site = list({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    found = next(iter(distributions(name=name, path=site)), None)
    assert found is not None, f"{name} is not installed in {site}: run `make` (pip install -e .) first"
    return found


def install_closure(name: str = "catlm") -> list:
    """The distributions ``pip install catlm`` brings: catlm and its requirements without extras."""
    seen, todo, found = set(), [name], []
    while todo:
        dist = installed(todo.pop())
        key = dist.metadata["Name"].lower()
        if key in seen:
            continue
        seen.add(key)
        found.append(dist)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def link_distribution(dist, site: Path) -> None:
    """Link the top-level files and folders of one installed distribution into ``site``."""
    origin = Path(dist.locate_file(""))
    for top in {Path(str(f)).parts[0] for f in dist.files or []} - {".."}:
        target = site / top
        if (origin / top).exists() and not target.exists():
            target.symlink_to(origin / top)


@pytest.fixture(scope="module")
def torch_free_python(tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("no-torch") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for dist in install_closure():
        link_distribution(dist, site)
    # the installed catlm must be this tree (an editable install), or the tests would judge another
    where = run_in(python, "-c", "import catlm; print(catlm.__file__)", cwd=venv).stdout.strip()
    assert Path(where) == ROOT / "catlm" / "__init__.py", f"catlm installed from {where}: pip install -e {ROOT}"
    return python


def run_in(python: Path, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


def test_the_closure_is_torch_free_and_complete():
    names = {d.metadata["Name"].lower() for d in install_closure()}
    assert {"catlm", "numpy", "lark", "sympy", "networkx", "opt_einsum", "scipy"} <= names
    assert not names & {"torch", "safetensors", "tokenizers", "tqdm"}


def test_the_venv_has_no_torch_and_catlm_works_there(torch_free_python):
    probe = run_in(torch_free_python, "-c", "import importlib.util as u; print(u.find_spec('torch'))")
    assert probe.stdout.strip() == "None", probe.stderr
    check = run_in(torch_free_python, "-m", "catlm", "check", str(COIN))
    assert check.returncode == 0 and "joint" in check.stdout, check.stderr


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    (folder / "checkpoint.json").write_text("{}")
    return folder


@pytest.mark.parametrize("command", [
    ["train", str(ROOT / "examples" / "char.cat"), "--corpus", str(COIN)],
    ["sample", "RUN", "--prompt", "a"],
    ["speculate", "RUN", "--drafter", "lookup", "--gamma", "2"],
    ["analyze", "RUN", "--corpus", str(COIN)],
    ["demo", "--quick"],
    ["experiment", "drafter_entropy", "--quick", "--synthetic"],
], ids=lambda c: c[0])
def test_a_command_that_needs_torch_says_so_without_it(torch_free_python, run_folder, tmp_path, command):
    args = [str(run_folder) if a == "RUN" else a for a in command]
    done = run_in(torch_free_python, "-m", "catlm", *args, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [f"error: catlm {command[0]} needs torch",
                                        "  hint: pip install 'catlm[torch]'"]
    assert not list(tmp_path.iterdir())  # refused before any work: nothing written


def test_compile_with_the_torch_backend_says_so_without_torch(torch_free_python):
    code = ("import catlm\n"
            f"spec = catlm.load({str(COIN)!r})\n"
            "try:\n"
            "    catlm.compile(spec.kernels['joint'], backend='torch')\n"
            "except catlm.CatlmError as err:\n"
            "    print(type(err).__name__, isinstance(err, ImportError), err.message, err.hint, sep='|')\n")
    done = run_in(torch_free_python, "-c", code)
    assert done.stdout.strip() == ("MissingExtra|True|catlm.compile(..., backend=\"torch\") needs torch|"
                                   "pip install 'catlm[torch]'"), done.stderr


@pytest.mark.slow
def test_analyze_of_a_spec_needs_no_torch(torch_free_python, tmp_path):
    done = run_in(torch_free_python, "-m", "catlm", "analyze", str(ROOT / "examples" / "bigram.cat"),
                  "--out", str(tmp_path / "rep"))
    assert done.returncode == 0, done.stderr


def test_exact_samples_of_a_spec_need_no_torch(torch_free_python):
    done = run_in(torch_free_python, "-m", "catlm", "sample", str(COIN), "-k", "flip", "-n", "3",
                  "--subs", "p=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["heads"] * 3  # flip = [p, 1 - p] at p = 1


def test_the_needs_table_names_only_commands():
    assert set(NEEDS) <= set(COMMANDS)


# --- usage errors --------------------------------------------------------------------------------

NONSENSE = [
    ["sample", "run", "--temperature", "nan"],
    ["sample", "run", "--temperature", "-1"],
    ["sample", "run", "--temperature", "inf"],
    ["sample", "run", "--max-new", "-3"],
    ["sample", "run", "--top-k", "0"],
    ["sample", "run", "--top-p", "0"],
    ["sample", "run", "--top-p", "1.5"],
    ["sample", "run", "--max-new", "ten"],
    ["sample", "coin.cat", "-k", "joint", "-n", "0"],
    ["speculate", "run", "--drafter", "lookup", "--gamma", "-1"],
    ["speculate", "run", "--drafter", "lookup", "--gamma", "2", "--max-new", "0"],
    ["speculate", "run", "--drafter", "lookup", "--gamma", "2", "--temperature", "nan"],
    ["speculate", "run", "--drafter", "lookup", "--gamma", "2", "--order", "0"],
    ["speculate", "run", "--drafter", "lookup", "--gamma", "2", "--head-steps", "-5"],
    ["speculate", "run", "--drafter", "lookup"],           # a required option missing
    ["eval", "coin.cat", "-k", "joint", "--budget", "0"],
    ["check"],                                             # a required argument missing
    ["nonsense"],                                          # an unknown command
]


@pytest.mark.parametrize("argv", NONSENSE, ids=" ".join)
def test_nonsense_arguments_are_usage_errors_with_exit_1(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert "hint: see `catlm" in err


@pytest.mark.parametrize("argv", NONSENSE, ids=" ".join)
def test_a_bad_command_line_is_a_usage_error_not_a_spec_error(argv):
    with pytest.raises(UsageError) as info:
        build_parser().parse_args(argv)
    assert not isinstance(info.value, SpecError)


@pytest.mark.parametrize("argv", [["draw", str(COIN), "-k", "nope", "-o", "-"],
                                  ["eval", str(COIN), "-k", "nope"]], ids=lambda a: a[0])
def test_an_unknown_kernel_is_a_usage_error(argv):
    args = build_parser(argv[:1]).parse_args(argv)
    with pytest.raises(UsageError, match="'nope'") as info:
        args.run(args)
    assert not isinstance(info.value, SpecError)


def test_the_error_classes_are_public():
    assert catlm.UsageError is UsageError and issubclass(catlm.MissingExtra, ImportError)


def test_the_torch_backend_refuses_exact():
    spec = catlm.load(COIN)
    with pytest.raises(UsageError, match="exact=True cannot be honoured"):
        catlm.compile(spec.kernels["joint"], backend="torch", exact=True, subs={"p": "1/3"})


# --- help and options ----------------------------------------------------------------------------

def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_every_default(name):
    parser = subparsers()[name]
    text = " ".join(parser.format_help().split())
    for action in parser._actions:
        default = action.default
        if not action.option_strings or default is None or isinstance(default, bool) \
                or default == [] or default == argparse.SUPPRESS:
            continue
        said = {f"default: {default}", f"default: {default!r}", f"default {default}", f"default {default!r}"}
        assert any(s in text for s in said), \
            f"catlm {name} {action.option_strings[-1]}: its default {default!r} is not in --help"


def test_k_is_the_kernel_name_in_every_command():
    using = {}
    for name, parser in subparsers().items():
        for action in parser._actions:
            if "-k" in action.option_strings:
                using[name] = action
                assert action.dest == "kernel" and "--kernel" in action.option_strings, name
                assert action.type is None and action.metavar == "NAME", name
    assert {"draw", "eval", "train"} <= set(using)


# --- no pickles ----------------------------------------------------------------------------------

UNPICKLING = re.compile(r"torch\.load\b|\bimport (c|cloud)?pickle\b|\bfrom (c|cloud)?pickle\b|\bpickle\.|"
                        r"weights_only\s*=\s*False|allow_pickle\s*=\s*True|\bdill\b|joblib\.load")


def test_nothing_in_the_package_unpickles():
    found = [f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
             for path in sorted((ROOT / "catlm").rglob("*.py"))
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if UNPICKLING.search(line)]
    assert not found, "checkpoints are safetensors + JSON; unpickling found:\n" + "\n".join(found)


def test_the_unpickling_pattern_catches_what_it_must():
    for line in ("state = torch.load(path)", "import pickle", "torch.load(f, weights_only=False)",
                 "x = load(f, weights_only = False)", "from pickle import loads", "pickle.loads(b)",
                 "np.load(f, allow_pickle=True)", "import cloudpickle"):
        assert UNPICKLING.search(line), line
    for line in ("load_file(path)  # safetensors", "safetensors + JSON, never pickle", "np.load(f)"):
        assert not UNPICKLING.search(line), line


# --- the licence ---------------------------------------------------------------------------------

def test_the_license_file_is_the_mit_license_setup_cfg_names():
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license"] == "MIT"
    text = " ".join((ROOT / "LICENSE").read_text(encoding="utf-8").split())
    assert text.startswith("MIT License Copyright (c)")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
