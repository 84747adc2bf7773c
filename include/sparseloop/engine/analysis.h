// The analysis commands of a trained run (docs/cli.md "eval" and "Analysis
// commands") as library calls: one request struct per command, and the
// table of entry points a family fills (engine/family.h). Each entry point
// loads RUN_DIR, writes its figures and JSON and returns the JSON result;
// `sparseloop <command>` only fills the request from its flags.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sparseloop {

/// What every analysis of a run takes.
struct AnalysisRequest {
  std::string run;                  ///< RUN_DIR written by training
  std::string checkpoint = "best";  ///< best | final | step-XXXXXXXX
  std::string data;                 ///< dataset (empty: the run's)
  std::string data_dir;             ///< its folder (empty: the run's)
  std::string out;                  ///< figures and JSON (empty: RUN_DIR/<command>)
  int64_t batch_size = 256;
  int64_t limit = 0;                ///< at most this many test samples (0: all)
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;

  /// `out`, or RUN_DIR/<command> when empty.
  std::string output_dir(const std::string& command) const;
};

struct EvalRequest : AnalysisRequest {
  std::string inception;  ///< TorchScript Inception network: FID and IS (autoencoders)
};
struct ReconstructRequest : AnalysisRequest {
  int64_t count = 32;
};
struct DenoiseRequest : AnalysisRequest {
  double sigma = 0.5;
  std::vector<double> lambdas{0.01, 0.1, 0.5};
};
struct RobustRequest : AnalysisRequest {
  std::string corruption = "gaussian";
  std::string levels;              ///< empty: the family's levels for the corruption
  std::string lambdas = "0.1:1.4:14";
  std::string cifar10c_dir;        ///< read CIFAR-10-C .npy files instead of corrupting
  std::string calibration = "auto";
  int64_t calibration_size = 1000;
  bool float_images = false;       ///< no uint8 truncation of corrupted images
  std::vector<std::string> baselines;  ///< other runs evaluated on the same images
};
struct InterpolateRequest : AnalysisRequest {
  int64_t pairs = 8;
  int64_t steps = 8;
};
struct PcaRequest : AnalysisRequest {
  int64_t components = 4;
  int64_t per_component = 8;
};
struct SimilarityRequest : AnalysisRequest {};
struct AtomsRequest : AnalysisRequest {
  int64_t count = 0;  ///< 0: all atoms
};
struct ProbeRequest : AnalysisRequest {
  std::string shots = "1,2,5,10,20,50,100";
  int64_t epochs = 100;
};
struct ReportRequest : AnalysisRequest {};

/// The analyses a family supports; an empty entry means the command does not
/// apply to the family's models.
struct FamilyAnalyses {
  std::function<nlohmann::json(const EvalRequest&)> eval;
  std::function<nlohmann::json(const ReconstructRequest&)> reconstruct;
  std::function<nlohmann::json(const DenoiseRequest&)> denoise;
  std::function<nlohmann::json(const RobustRequest&)> robust;
  std::function<nlohmann::json(const InterpolateRequest&)> interpolate;
  std::function<nlohmann::json(const PcaRequest&)> pca;
  std::function<nlohmann::json(const SimilarityRequest&)> similarity;
  std::function<nlohmann::json(const AtomsRequest&)> atoms;
  std::function<nlohmann::json(const ProbeRequest&)> probe;
  std::function<nlohmann::json(const ReportRequest&)> report;
};

}  // namespace sparseloop
