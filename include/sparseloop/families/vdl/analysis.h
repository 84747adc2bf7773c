// Analyses of a trained VDL-family run (sdl, vdl, sdl-nl, vdl-nl; docs/cli.md
// "Analysis commands"). Each loads the run (families/vdl/trainer.h),
// recomputes the data split it needs, writes PNG and JSON into the request's
// output folder (RUN/<command> by default) and returns the JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "sparseloop/engine/analysis.h"
#include "sparseloop/engine/run_report.h"

namespace sparseloop {

/// Test metrics of the encoder's codes and of FISTA codes: RUN/eval.json.
nlohmann::json vdl_eval(const EvalRequest& request);
/// reconstructions.png: inputs over encoder and FISTA reconstructions.
nlohmann::json vdl_reconstruct(const ReconstructRequest& request);
/// Denoising of x + σ·N(0, 1) (normalised space) by the encoder and by FISTA
/// at each λ (changed at inference only): denoise.json, denoise.png.
nlohmann::json vdl_denoise(const DenoiseRequest& request);
/// atoms.png: the decoder's columns (W, or W₂W₁ and the one-hot decodes of
/// the non-linear decoders).
nlohmann::json vdl_atoms(const AtomsRequest& request);
/// Few-shot linear probes on frozen codes against raw pixels: probe.json, probe.png.
nlohmann::json vdl_probe(const ProbeRequest& request);
/// The training-curve panels of a run (RUN/<file>.png).
std::vector<CurvePanel> vdl_curves();
/// report.html (in `out`, else RUN): curves, test metrics and every figure
/// the other analyses wrote.
nlohmann::json vdl_report(const ReportRequest& request);

}  // namespace sparseloop
