#include "sparseloop/models/sdnet_bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "sparseloop/models/sdnet.h"
#include "sparseloop/util/compat.h"

namespace sparseloop {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double process_peak_mib() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace

nlohmann::json bench_sdnet_step(const std::string& model, int64_t batch, int64_t size,
                                torch::Device device, int repeats, int64_t width) {
  TORCH_CHECK(batch > 0 && size >= 8 && repeats > 0 && width > 0,
              "bench_sdnet_step: batch, size (>= 8), repeats and width must be positive");
  SdnetOptions o = sdnet_options_for(model);
  o.width = width;
  o.in_channels = 3;
  o.num_classes = 10;
  o.stem = size >= 128 ? StemKind::kImagenet : StemKind::kCifar;
  Sdnet net(o);
  net->to(device);
  torch::optim::SGD opt(net->parameters(),
                        torch::optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(5e-4));
  auto gen_opts = torch::TensorOptions().device(device);
  auto x = torch::randn({batch, 3, size, size}, gen_opts);                    // (B, 3, S, S)
  auto y = torch::randint(0, 10, {batch}, gen_opts.dtype(torch::kLong));    // (B,)

  auto train_step = [&] {
    net->train();
    auto loss = torch::nn::functional::cross_entropy(net->forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    net->after_optimizer_step();
  };
  for (int i = 0; i < 2; ++i) train_step();  // cold power iterations, allocator warm-up
  cuda_synchronize();
  cuda_reset_peak_bytes();

  std::vector<double> fwd, step, eval;
  for (int r = 0; r < repeats; ++r) {
    double t0 = now_ms();
    {
      net->train();
      auto logits = net->forward(x);  // (B, 10), graph built and dropped
      cuda_synchronize();
    }
    fwd.push_back(now_ms() - t0);
    t0 = now_ms();
    train_step();
    cuda_synchronize();
    step.push_back(now_ms() - t0);
    t0 = now_ms();
    {
      torch::NoGradGuard no_grad;
      net->eval();
      auto logits = net->forward(x);
      cuda_synchronize();
    }
    eval.push_back(now_ms() - t0);
  }
  int64_t params = 0;
  for (const auto& p : net->parameters()) params += p.numel();
  nlohmann::json j;
  j["model"] = model;
  j["batch"] = batch;
  j["size"] = size;
  j["width"] = width;
  j["device"] = device.str();
  j["repeats"] = repeats;
  j["parameters"] = params;
  j["forward_ms"] = median(fwd);
  j["forward_backward_ms"] = median(step);
  j["eval_forward_ms"] = median(eval);
  j["images_per_second"] = 1000.0 * static_cast<double>(batch) / median(step);
  j["peak_mib"] = device.is_cuda() ? static_cast<double>(cuda_peak_bytes()) / (1024.0 * 1024.0)
                                   : process_peak_mib();
  j["peak_memory_kind"] = device.is_cuda() ? "cuda_allocated" : "process_rss";
  return j;
}

}  // namespace sparseloop
