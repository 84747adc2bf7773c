// Analyses of a trained SDNet / ResNet run (docs/cli.md §5.3, §5.6, §5.12): `eval` (top-1,
// top-5, loss), `robust` (accuracy per corruption level and test-time λ of
// the stem, with the residual-selected λ; Dai et al., NeurIPS 2022, §4.3)
// and `report`.
#pragma once

#include <nlohmann/json.hpp>

#include "sparseloop/engine/analysis.h"

namespace sparseloop {

/// Top-1, top-5 and mean cross-entropy on the test split: RUN/eval.json.
nlohmann::json sdnet_eval(const EvalRequest& request);
/// The robust-inference experiment: corrupted test images per level, the
/// stem's λ swept at test time, λ selected from the reconstruction residual
/// by a line fitted on calibration images, other runs (`baselines`) on the
/// same images. robust-<corruption>.json and figures.
nlohmann::json sdnet_robust(const RobustRequest& request);
/// atoms.png: the stem CSC layer's atoms (SDNet models; not the ResNets).
nlohmann::json sdnet_atoms(const AtomsRequest& request);
/// report.html of the run.
nlohmann::json sdnet_report(const ReportRequest& request);

}  // namespace sparseloop
