"""Claim 17 (§4.1, motivational): is the average categorical entropy of a drafter head larger
than the verifier's, H̄_D(k_draft) > H̄_D(k_verify)?

A stand-in drafter, not one of catlm's speculative-decoding drafters: a small GPT is trained on
the text (the verifier k_verify = its head, predicting W_{t+1} from h_t); a second linear-softmax
head on the same frozen h_t is fitted by cross-entropy to predict W_{t+2} (the drafter's second
token, as in EAGLE/Medusa heads). Both heads' H̄_KL and H̄_TV are measured on held-out positions.

    catlm experiment drafter_entropy [--quick] [--synthetic] [--corpus PATH] [--out DIR]

>>> uniform = np.log(np.full((3, 4), 0.25))          # H_KL = log 4, H_TV = 1 - 1/4
>>> {name: round(h, 4) for name, h in entropies(uniform).items()}
{'H_KL': 1.3863, 'H_TV': 0.75}
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.optimize
from scipy.special import log_softmax

from catlm.analysis.report import Table, bar_plot
from catlm.data.corpus import read_text
from catlm.experiments.settings import Settings, finish


def synthetic_text(length: int, seed: int) -> str:
    """Text from a random order-2 source on 12 letters."""
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(12, 0.2), size=(12, 12))
    tokens = [0, 1]
    for _ in range(length - 2):
        tokens.append(rng.choice(12, p=table[tokens[-2], tokens[-1]]))
    return "".join("abcdefghijkl"[t] for t in tokens)


def train_verifier(text: str, quick: bool, seed: int):
    import torch
    from catlm.data.tokenizers import CharTokenizer
    from catlm.models.gpt import GPT, GPTConfig
    from catlm.models.training import TrainConfig, train
    tok = CharTokenizer.from_text(text)
    torch.manual_seed(seed)
    dim, layers, steps = (16, 1, 60) if quick else (64, 2, 300)
    model = GPT(GPTConfig(vocab=tok.vocab_size, context=64, layers=layers, heads=4, dim=dim))
    train(model, text, TrainConfig(steps=steps, batch=16, block=64, lr=3e-3, warmup=10, eval_interval=steps,
                                   eval_iters=2, device="cpu", seed=seed), progress=False, tokenizer=tok)
    return model.eval(), np.asarray(tok.encode(text))


def fit_head(hidden, target, V: int, steps: int):
    """(W, b) of softmax(W h + b) minimising the cross-entropy of ``target`` by L-BFGS."""
    d = hidden.shape[1]
    onehot = np.eye(V)[target]

    def objective(flat):
        W, b = flat[:V * d].reshape(V, d), flat[V * d:]
        logq = log_softmax(hidden @ W.T + b, axis=1)
        G = (np.exp(logq) - onehot) / len(hidden)
        return -np.sum(onehot * logq) / len(hidden), np.concatenate([(G.T @ hidden).ravel(), G.sum(0)])

    flat = scipy.optimize.minimize(objective, np.zeros(V * d + V), jac=True, method="L-BFGS-B",
                                   options={"maxiter": steps}).x
    return flat[:V * d].reshape(V, d), flat[V * d:]


def entropies(logq) -> dict:
    q = np.exp(logq)
    return {"H_KL": float(np.mean(-(q * logq).sum(1))), "H_TV": float(np.mean(1 - (q * q).sum(1)))}


def run(settings: Settings) -> Path:
    """Write OUT/NAME/report.md, its figures and report.json; returns the folder."""
    from catlm.analysis.estimators import head_weights, read
    text = synthetic_text(20_000, settings.seed) if settings.synthetic else read_text(settings.corpus)
    text = text[:30_000] if settings.quick else text
    model, tokens = train_verifier(text, settings.quick, settings.seed)
    held = tokens[-(6_000 if settings.quick else 60_000):]
    readout = read(model, held)
    keep = readout.position + 2 < len(held)
    hidden, pos = readout.hidden[keep], readout.position[keep]
    half = len(pos) // 2
    W, b = head_weights(model)
    V = W.shape[0]
    Wd, bd = fit_head(hidden[:half], held[pos[:half] + 2], V, 100 if settings.quick else 300)
    verify = log_softmax(hidden[half:] @ W.T + (0 if b is None else b), axis=1)
    draft = log_softmax(hidden[half:] @ Wd.T + bd, axis=1)
    test = pos[half:]
    rows = [{"head": name, **entropies(logq), "CE": float(-np.mean(logq[np.arange(len(test)), held[test + offset]])),
             "top1": float(np.mean(logq.argmax(1) == held[test + offset]))}
            for name, logq, offset in (("verifier (W_t+1)", verify, 1), ("drafter (W_t+2)", draft, 2))]
    table = Table("Average categorical entropy of the two heads on held-out positions (nats)",
                  ("head", "H̄_KL", "H̄_TV", "CE of its target", "top-1 accuracy"), tuple(tuple(r.values()) for r in rows))
    figure = bar_plot(settings.folder("drafter_entropy"), "entropy.png", {r["head"]: r["H_KL"] for r in rows},
                      title="H̄_KL of verifier and drafter heads", ylabel="nats",
                      caption="Categorical entropy (KL) of the verifier and of the stand-in drafter")
    holds = rows[1]["H_KL"] > rows[0]["H_KL"]
    verdict = ("The claim holds in this run: H̄_KL(drafter) > H̄_KL(verifier)." if holds else
               "The claim FAILS in this run: H̄_KL(drafter) ≤ H̄_KL(verifier).")
    return finish(settings, "drafter_entropy", "Claim 17: drafter vs verifier categorical entropy",
                  ["Stand-in drafter: a linear head on the verifier's frozen h_t predicting W_{t+2}.", verdict],
                  table, [figure], {"rows": rows, "claim_holds": holds})

