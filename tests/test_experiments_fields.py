"""The gradient-field and replicator experiments' quick presets meet their numbers.

Thresholds: backprop's asymmetry is zero up to finite-difference error, which the
experiment's docstring bounds at about 1e-10 for eps = 1e-5, so 1e-6 leaves four orders
of margin; the planted rotation has Jacobian R (antisymmetric), asymmetry 1 up to
rounding. FA and Oja have genuine antisymmetric parts of order 0.1 to 0.5 at the sampled
states; 1e-3 is far below those values yet seven orders above the numerical floor, so
it separates "not a gradient" from rounding without depending on the random draw. The
The fields that are exact gradients by construction (predictive coding at converged
inference, by the envelope theorem; dendritic prediction with the soma held fixed, the
gradient of the Poisson KL; temporal prediction, the gradient of the prediction loss)
are held to the same 1e-6 as backprop (measured 4e-11 to 3e-9 over seeds 0-2). Truncated
inference (0.13 to 0.19) and the dendritic field with the soma driven by the dendrite
(0.006 to 0.05 over seeds 0-2: the rule ignores that dependence) must exceed 1e-4, which
is six orders above the floor and well below every measured value. The dendritic field
formula differs from the rule's own trial update only by the O(eta) drift of w within
the trial (1e-4 to 2e-3 measured; bound 1e-2). The
Shahshahani cosine is 1 identically (all three terms of the cosine are the same sum),
so only rounding separates it from 1.

The metric-aware tests use the experiment's own pass threshold ``floor_tol`` (1e-6, four
orders above the ~1e-10 finite-difference floor). Hebb (``J = eta C``) and BCM with its
threshold at E[y^2] (``F = eta grad(E[y^3]/3 - E[y^2]^2/4)``) are exact Euclidean
gradients; Oja's field is not (its antisymmetric part ``eta (C w w^T - w w^T C)/2`` is of
the order of ``J`` away from eigenvectors: 0.3 measured) but its tangent Jacobian on the
sphere is the Riemannian Hessian of the Rayleigh quotient, symmetric. Sanger's Jacobian is
block-triangular (not symmetric), its field is not tangent to the product of spheres nor
to the Stiefel manifold, and its tangent parts are not closed: all above the threshold
(0.17 to 0.5 measured). Closed forms equal the rules' own mean fields to rounding
(1e-12 bound, ~1e-16 measured). Monotone objectives along gradient flows are checked
exactly (fraction 1: any violation beyond rounding would be a failure of the theory).
"""

import json


def _summary(cli, tmp_path, name):
    out = tmp_path / f"{name}.h5"
    code, _, err = cli("run", name, "--quick", "--quiet", "--out", out)
    assert code == 0, err
    code, text, _ = cli("info", out, "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["status"] == "complete"
    return doc["summary"]


def test_gradient_field(cli, tmp_path):
    s = _summary(cli, tmp_path, "gradient-field")
    assert s["backprop.asymmetry"] < 1e-6
    assert s["backprop.asymmetry_max"] < 1e-6
    assert abs(s["rotation.asymmetry"] - 1) < 1e-6
    assert s["feedback_alignment.asymmetry"] > 1e-3
    assert s["oja.asymmetry"] > 1e-3
    # the fields computed are the ones the docstring claims
    assert s["backprop.field_error"] < 1e-12
    assert s["oja.mean_field_error"] < 1e-12
    for exact in ("predictive_coding", "dendritic_fixed_soma", "temporal_prediction"):
        assert s[f"{exact}.asymmetry_max"] < 1e-6, exact
    assert s["predictive_coding_truncated.asymmetry"] > 1e-4
    assert s["dendritic_prediction.asymmetry"] > 1e-4
    assert s["dendritic.field_error"] < 1e-2
    assert s["temporal_prediction.field_error"] < 1e-12
    tol = s["floor_tol"]
    assert tol == 1e-6
    # exact Euclidean gradients, and their objectives increase along the flow
    for name in ("hebb", "bcm"):
        assert s[f"{name}.asymmetry_max"] < tol, name
        assert s[f"{name}.mean_field_error"] < 1e-12, name
        assert s[f"{name}.descent_frac"] == 1 and s[f"{name}.descent_pointwise_frac"] == 1
        assert s[f"{name}.verdict"].startswith("Euclidean gradient field in weight "
                                               "coordinates"), name
        assert "increases along the mean flow" in s[f"{name}.verdict"], name
    # Oja: not a Euclidean gradient field, a gradient flow of R on the sphere
    assert s["oja.asymmetry"] > 1e-3
    assert s["oja.asymmetry_sphere_max"] < tol
    assert s["oja.tangency_sphere"] < 1e-12
    assert s["oja.descent_frac"] == 1 and s["oja.descent_pointwise_frac"] == 1
    assert abs(s["oja.steepest_cos_min"] - 1) < 1e-12
    assert s["oja.verdict"].startswith("not a Euclidean gradient field in weight coordinates")
    assert "a gradient flow of R on the sphere" in s["oja.verdict"]
    assert "R increases along the mean flow" in s["oja.verdict"]
    # Sanger: fails the Euclidean test, is not tangent to either manifold, and the
    # tangent parts are not gradients either
    assert s["sanger.asymmetry"] > 1e-3
    assert s["sanger.mean_field_error"] < 1e-12
    for key in ("spheres", "stiefel"):
        assert s[f"sanger.tangency_{key}"] > 1e-3, key
        assert s[f"sanger.asymmetry_{key}"] > 1e-3, key
    assert "no gradient structure found in the metrics tested" in s["sanger.verdict"]
    # the replicator: a Shahshahani gradient of V, RPS none
    assert s["replicator_partnership.asymmetry"] > 1e-3
    assert s["replicator_partnership.asymmetry_simplex"] > 1e-3
    assert s["replicator_partnership.asymmetry_shahshahani_max"] < tol
    assert "a gradient flow of V on the simplex with the Shahshahani metric" in \
        s["replicator_partnership.verdict"]
    assert abs(s["replicator_rps.asymmetry_shahshahani"] - 1) < 1e-6
    assert abs(s["rotation.asymmetry_sphere"] - 1) < 1e-6
    # the verdicts of the fields with known structure, and never an overclaim
    for exact in ("backprop", "predictive_coding", "dendritic_fixed_soma",
                  "temporal_prediction"):
        assert s[f"{exact}.verdict"].startswith("Euclidean gradient field"), exact
    for name in ("feedback_alignment", "rotation", "predictive_coding_truncated",
                 "dendritic_prediction", "replicator_rps"):
        assert s[f"{name}.verdict"].startswith("not a Euclidean gradient field"), name
        assert "no gradient structure found in the metrics tested" in s[f"{name}.verdict"]
    assert not any("follows no" in v for k, v in s.items() if k.endswith(".verdict"))


def test_replicator_selection(cli, tmp_path):
    s = _summary(cli, tmp_path, "replicator-selection")
    assert abs(s["cos_shahshahani"] - 1) < 1e-9
    assert abs(s["cos_shahshahani_min"] - 1) < 1e-9
    assert abs(s["partnership_cos_shahshahani_min"] - 1) < 1e-9
    assert 0 < s["cos_euclidean"] < 1
    assert s["cos_euclidean_min"] > 0
    assert s["rps_asymmetry"] > 0.1
    # Fisher's fundamental theorem: mean fitness never decreases along the flow
    assert s["fbar_min_increment"] >= 0
    # gradients in the Shahshahani metric fail the Euclidean test but pass the metric one
    assert s["constant_asymmetry_euclidean"] > 0.01
    assert s["constant_asymmetry_shahshahani"] < 1e-6
    assert s["partnership_asymmetry_shahshahani"] < 1e-6
    assert s["rps_asymmetry_shahshahani"] > 0.1
    assert abs(s["rps_covector_asymmetry"] - 1) < 1e-6
