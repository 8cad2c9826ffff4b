"""Decoding: speculative sampling as exact Markov kernels in FinStoch, and its sampling step.

The exact part (numpy and Fractions, no torch) computes the output law of each verification rule
by enumerating the procedure and checks it against the target kernel:

* ``exact``: one draft-verify step (``acceptance_rate``, ``residual``, ``speculative_kernel``);
* ``blocks``: blocks of γ drafts with a bonus token over a finite state space (``block_law``,
  ``prefix_law``, ``expected_tokens_per_call``, per-position and per-token acceptance);
* ``multidraft``: SpecInfer, without-replacement, deterministic candidates, draft trees;
* ``verifiers``: every rule as a frozen dataclass in ``VERIFIERS`` (plus greedy and typical);
* ``rejection``: ``verify``, Leviathan's Algorithm 1 on pre-drawn uniforms;
* ``chisquare``: ``chi_square_test`` for Monte-Carlo checks of sampling implementations.

The run-time part (torch) is ``runtime`` (``speculative_generate``, ``plain_generate``) and
``drafters`` (prompt lookup, n-gram, small LM, hidden-state head).

Names load on first use (PEP 562), so importing this package pulls in neither scipy nor torch.

>>> from fractions import Fraction as F
>>> from catlm.decoding import acceptance_rate
>>> str(acceptance_rate([F(1, 2), F(1, 2)], [F(1, 4), F(3, 4)]))
'3/4'
"""
from __future__ import annotations

from catlm.lazy import exports

# public name -> module that defines it
_EXPORTS = {
    **dict.fromkeys(["overlap", "acceptance_rate", "total_variation", "accept_probability",
                     "residual", "speculative_kernel"], "catlm.decoding.exact"),
    **dict.fromkeys(["BlockLaw", "successor_table", "shift_successor", "block_law", "prefix_law",
                     "target_law", "transfer_matrix", "expected_tokens_per_call",
                     "acceptance_by_position", "per_token_acceptance_rate",
                     "iid_tokens_per_call", "iid_per_token_rate"], "catlm.decoding.blocks"),
    **dict.fromkeys(["NodeLaw", "Draw", "Single", "SpecInfer", "WithoutReplacement",
                     "Deterministic", "chain_law", "deterministic_law",
                     "specinfer_accept_closed_form", "tree_prefix_law"],
                    "catlm.decoding.multidraft"),
    **dict.fromkeys(["Greedy", "Typical", "VERIFIERS", "get_verifier", "typical_threshold"],
                    "catlm.decoding.verifiers"),
    **dict.fromkeys(["verify", "inverse_cdf"], "catlm.decoding.rejection"),
    **dict.fromkeys(["ChiSquare", "chi_square_test"], "catlm.decoding.chisquare"),
    **dict.fromkeys(["SpecStats", "SpecResult", "speculative_generate", "plain_generate",
                     "pit_test", "forward_cost_ratio", "fast_verify"], "catlm.decoding.runtime"),
    **dict.fromkeys(["RollbackCache", "rollback_cache"], "catlm.decoding.kvcache"),
    **dict.fromkeys(["Sampling", "DraftContext", "Draft", "Drafter", "PromptLookup",
                     "NgramDrafter", "LMDrafter", "FeatureHead", "HiddenStateDrafter",
                     "HeadTraining", "target_samples", "train_feature_head", "save_head",
                     "load_head", "truncate_cache", "RowLaw"],
                    "catlm.decoding.drafters"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())
