"""The paper's quantities, exact on finite kernels of FinStoch (numpy and scipy only, no torch).

Source: Zhang, "A Markov Categorical Framework for Language Modeling", arXiv 2507.19247
(§2 divergences and categorical entropy, §4–§7 the quantities below). Modules: ``divergences`` (the enrichment),
``entropy`` (categorical entropy and mutual information, the NLL identity), ``surplus``
(information surplus), ``sources`` (a kernel X -> X as a first-order source), ``geometry``
(pullback Fisher–Rao metric, Thm 6.1 for f-divergences, the head-weighted covariance), ``spectral``
(predictive similarity and M_K), ``alignment`` (scores against baselines), ``surrogate`` ([OPS]
quadratic surrogate and CCA); ``estimators`` (torch) reads the same quantities off a trained model.

>>> from catlm.analysis import categorical_entropy
>>> round(categorical_entropy([[0.5, 0.5]], "renyi", alpha=2), 6)   # log |supp| = log 2
0.693147
"""
from __future__ import annotations

from catlm.analysis.divergences import DIVERGENCES, bhattacharyya, divergence
from catlm.analysis.entropy import (NLL, EntropyGap, categorical_entropy, conditional_entropy,
                                    entropy_gap, mutual_information, nll_decomposition,
                                    pointwise_entropy, shannon)
from catlm.analysis.geometry import (Anisotropy, ApproximationBounds, PathBound, anisotropy,
                                     approximation_bounds, averaged_metric, averaged_spectrum,
                                     fisher_rao_distance, head_probs, head_weighted_covariance,
                                     local_divergence_ratio, local_kl_ratio,
                                     mean_anisotropy, metric_matvec, metric_rank, path_bound,
                                     predicted_rank, pullback_metric, top_eigenpairs)
from catlm.analysis.spectral import (SIMILARITY_KERNELS, AlignmentUniformity, Spectrum,
                                     alignment_objective, alignment_uniformity, dirichlet_energy,
                                     disintegrate, ky_fan_optimum, laplacian, linear_cka,
                                     operator_spectrum, principal_angles, similarity_kernel)
from catlm.analysis.sources import FirstOrderSource, first_order_source, stationary_law
from catlm.analysis.surplus import Surplus, information_surplus, joint_state, k_step_kernel
from catlm.analysis.surrogate import (CCA, cca, cross_covariances, log_partition,
                                      quadratic_surrogate, surrogate_beta)

__all__ = [
    "AlignmentUniformity", "Anisotropy", "ApproximationBounds", "CCA", "DIVERGENCES", "EntropyGap",
    "FirstOrderSource", "NLL", "entropy_gap", "first_order_source", "head_weighted_covariance",
    "local_divergence_ratio", "sources", "stationary_law",
    "PathBound", "SIMILARITY_KERNELS", "Spectrum", "Surplus", "alignment_objective",
    "alignment_uniformity", "anisotropy", "approximation_bounds", "averaged_metric",
    "averaged_spectrum", "bhattacharyya", "categorical_entropy", "cca", "checks",
    "conditional_entropy", "cross_covariances", "dirichlet_energy", "disintegrate",
    "divergence", "divergences", "entropy", "fisher_rao_distance", "geometry", "head_probs",
    "information_surplus", "joint_state", "k_step_kernel", "ky_fan_optimum", "laplacian",
    "linear_cka", "local_kl_ratio", "log_partition", "mean_anisotropy", "metric_matvec",
    "metric_rank", "mutual_information", "nll_decomposition", "operator_spectrum", "path_bound",
    "pointwise_entropy", "predicted_rank", "principal_angles", "pullback_metric",
    "quadratic_surrogate", "shannon", "similarity_kernel", "spectral", "surplus", "surrogate",
    "surrogate_beta", "top_eigenpairs",
]
