// Weights in and out of PyTorch (docs/pytorch.md; issue 11).
//
// Out: `sparseloop export` writes a run's weights as a file Python opens with
// `torch.load` (a plain dict name → tensor, through LibTorch's pickle_save) or
// as safetensors, under the names the authors' PyTorch modules use where a
// model corresponds (SDNet/ResNet: Delay-Xili/SDNet; VDL: kevtimova/deep-sparse),
// so `module.load_state_dict(torch.load(F))` works on their classes.
//
// In: LibTorch 1.13 cannot unpickle a Python state_dict (its unpickler turns
// collections.OrderedDict into None), so PyTorch files come in as safetensors
// written by tools/torch2safetensors.py; `sparseloop import` maps the authors'
// names to ours and writes a run folder that eval, robust and report accept.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "sparseloop/io/safetensors.h"

namespace sparseloop {

struct ExportRequest {
  std::string run;                  ///< run folder
  std::string checkpoint = "final";  ///< best | final | step-XXXXXXXX
  std::string format = "pytorch";    ///< pytorch | safetensors
  std::string out;                   ///< file; "" = RUN/export.pt or RUN/export.safetensors
};

/// Writes the run's weights under the authors' names (atomically); returns
/// {"out", "format", "model", "tensors", "names"} where names is "authors"
/// or "sparseloop" (a model with no published PyTorch code, e.g. CSC-CTRL).
nlohmann::json export_run(const ExportRequest& request);

struct ImportRequest {
  std::string model;     ///< sdnet18 | sdnet34 | sdnet18-all | … | vdl | sdl-nl …
  std::string from;      ///< safetensors file with the authors' names
  std::string out;       ///< run folder to create
  std::string data;      ///< dataset the run is for ("": the family's guess from the weights)
  std::string data_dir;  ///< its folder
  std::string config;    ///< optional TOML file of further settings (as train --config)
  int64_t image_size = 0;  ///< input size the model is for (0: the family's default)
};

/// Creates the run folder `out` (config.toml, model_info.json,
/// model.safetensors, summary.json) from the authors' tensors of `from`.
/// InputError names the file and the tensor for a missing, extra or
/// mis-shaped one, and refuses an `out` that already holds a run.
nlohmann::json import_run(const ImportRequest& request);

/// True for the tensors a CSC layer keeps for its power iteration
/// (sparse/lipschitz.h): ours alone, never exported, rebuilt on first use.
bool is_solver_cache(const std::string& name);

/// Copies the authors' tensors of `file` into `module`, whose tensor `n` the
/// authors call `authors_name(n)` ("" = not theirs: left as built). InputError
/// naming the file and the tensor for one that is missing or mis-shaped, and
/// for a tensor of the file the model has no place for, unless `ignored(it)`
/// (tensors the authors keep and we derive, like SDNet's dn.step_size).
void load_authors_tensors(torch::nn::Module& module, const TensorFile& file,
                          const std::function<std::string(const std::string&)>& authors_name,
                          const std::function<bool(const std::string&)>& ignored = {});

}  // namespace sparseloop
