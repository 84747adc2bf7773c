#include "bench/sdnet_step.h"

#include "bench/machine_limits.h"
#include "bench/op_counter.h"

#include <algorithm>
#include <chrono>

#include "sparseloop/families/sdnet/model.h"
#include "sparseloop/util/compat.h"
#include "sparseloop/util/timing.h"

namespace sparseloop {
namespace {

/// One model, its optimizer and a fixed batch, ready to take training steps.
struct StepRig {
  Sdnet net{nullptr};
  std::unique_ptr<torch::optim::SGD> opt;
  torch::Tensor x, y;   // (B, 3, S, S), (B,)
  int64_t restarts = 0;  // cold restarts of L's power iteration, counted by step()

  StepRig(const std::string& model, int64_t batch, int64_t size, torch::Device device,
          int64_t width) {
    SdnetOptions o = sdnet_options_for(model);
    o.width = width;
    o.in_channels = 3;
    o.num_classes = 10;
    o.stem = size >= 128 ? StemKind::kImagenet : StemKind::kCifar;
    torch::manual_seed(0);
    net = Sdnet(o);
    net->to(device);
    // Authors' CIFAR optimizer (train.py): SGD Nesterov, momentum 0.9, wd 5e-4.
    opt = std::make_unique<torch::optim::SGD>(
        net->parameters(),
        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4));
    auto gen_opts = torch::TensorOptions().device(device);
    x = torch::randn({batch, 3, size, size}, gen_opts);                  // (B, 3, S, S)
    y = torch::randint(0, 10, {batch}, gen_opts.dtype(torch::kLong));  // (B,)
  }

  /// One training step as the trainer takes it: the forward refreshes L where
  /// the dictionary changed (the step policy), then backward, SGD, projection.
  void step() {
    net->train();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    opt->zero_grad();
    loss.backward();
    opt->step();
    net->project_atoms();
    for (const auto& l : net->csc_layers())
      restarts += l->last_power_iterations() > 0 && l->last_cold_restart();
  }
};

/// Times one model; see bench_sdnet_step for the keys.
nlohmann::json time_model(const std::string& model, int64_t batch, int64_t size,
                          torch::Device device, int repeats, int64_t width) {
  StepRig rig(model, batch, size, device, width);
  auto& net = rig.net;
  auto& x = rig.x;
  auto power_iterations = [&] {
    int64_t n = 0;
    for (const auto& l : net->csc_layers()) n += l->last_power_iterations();
    return n;
  };
  int64_t& restarts = rig.restarts;
  auto train_step = [&] { rig.step(); };
  for (int i = 0; i < 2; ++i) train_step();  // cold power iterations, allocator warm-up
  cuda_synchronize();
  cuda_reset_peak_bytes();
  // The process's high-water mark from here on, so that each model's peak is
  // its own whichever ran first (a lifetime maximum kept the larger one's).
  reset_peak_rss();

  // Consecutive training steps (each pays its own refresh of L).
  std::vector<double> step, fwd, eval;
  double iterations = 0;
  restarts = 0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_ms();
    train_step();
    cuda_synchronize();
    step.push_back(now_ms() - t0);
    iterations += static_cast<double>(power_iterations());
  }
  // Forwards with fixed weights: the first absorbs the refresh after the last step.
  net->train();
  { auto warm = net->forward(x); }
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now_ms();
    {
      auto logits = net->forward(x);  // (B, 10), graph built and dropped
      cuda_synchronize();
    }
    fwd.push_back(now_ms() - t0);
  }
  {
    torch::NoGradGuard no_grad;
    net->eval();
    for (int r = 0; r < repeats; ++r) {
      const double t0 = now_ms();
      auto logits = net->forward(x);
      cuda_synchronize();
      eval.push_back(now_ms() - t0);
    }
  }
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  nlohmann::json j;
  j["model"] = model;
  j["parameters"] = params;
  j["csc_layers"] = net->csc_layers().size();
  j["forward_ms"] = median(fwd);
  j["forward_backward_ms"] = median(step);
  j["eval_forward_ms"] = median(eval);
  j["images_per_second"] = 1000.0 * static_cast<double>(batch) / median(step);
  j["power_iterations_per_step"] = iterations / static_cast<double>(repeats);
  j["cold_restarts_per_step"] = static_cast<double>(restarts) / static_cast<double>(repeats);
  // One training step counted as it runs, against the machine's limits.
  const MachineLimits& limits = machine_limits(device);
  const OpCounts counts = count_ops(train_step);
  j["machine"] = to_json(limits);
  j["counts"] = against_floor(limits, counts.flop, counts.bytes, median(step));
  j["flop_per_step"] = counts.flop;
  j["bytes_per_step"] = counts.bytes;
  j["fraction_of_floor"] = j["counts"]["fraction_of_floor"];
  j["products"] = products_json(counts.products, limits.fp32_gflops, limits.bf16_gflops);
  j["peak_mib"] = device.is_cuda() ? static_cast<double>(cuda_peak_bytes()) / (1024.0 * 1024.0)
                                   : process_peak_rss_mib();
  return j;
}

}  // namespace

nlohmann::json bench_sdnet_step(const std::string& model, int64_t batch, int64_t size,
                                torch::Device device, int repeats, int64_t width, bool baseline) {
  TORCH_CHECK(batch > 0 && size >= 8 && repeats > 0 && width > 0,
              "bench_sdnet_step: batch, size (>= 8), repeats and width must be positive");
  const SdnetOptions o = sdnet_options_for(model);
  const std::string resnet = o.depth == 34 ? "resnet34" : "resnet18";
  nlohmann::json base;
  if (baseline && model != resnet) base = time_model(resnet, batch, size, device, repeats, width);
  nlohmann::json j = time_model(model, batch, size, device, repeats, width);
  j["batch"] = batch;
  j["size"] = size;
  j["width"] = width;
  j["device"] = device.str();
  j["repeats"] = repeats;
  j["peak_memory_kind"] = device.is_cuda() ? "cuda_allocated" : "process_rss";
  if (!base.is_null()) {
    j["baseline"] = base;
    j["step_time_vs_baseline"] =
        j["forward_backward_ms"].get<double>() / base["forward_backward_ms"].get<double>();
    // The same ratio from paired rounds (one step of each model per round,
    // util/timing.h): the two blocks above are minutes apart on a CPU, and a
    // shared VM's drift moved their ratio between 2.0 and 3.4 in four runs.
    StepRig ours(model, batch, size, device, width), theirs(resnet, batch, size, device, width);
    auto rounds = time_interleaved({[&] { ours.step(); }, [&] { theirs.step(); }}, repeats, 2,
                                   device);  // 2 warm-up rounds: L's cold power iterations
    j["paired_forward_backward_ms"] = median(rounds[0]);
    j["paired_baseline_forward_backward_ms"] = median(rounds[1]);
    j["paired_step_time_vs_baseline"] = median_ratio(rounds[0], rounds[1]);
  }
  return j;
}

}  // namespace sparseloop
