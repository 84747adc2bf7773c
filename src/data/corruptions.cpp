#include "sparseloop/data/corruptions.h"

#include <cmath>
#include <sstream>

#include "sparseloop/util/error.h"

namespace sparseloop {

const char* to_string(Corruption c) {
  switch (c) {
    case Corruption::kGaussian: return "gaussian";
    case Corruption::kShot: return "shot";
    case Corruption::kSpeckle: return "speckle";
    case Corruption::kImpulse: return "impulse";
  }
  return "?";
}

Corruption parse_corruption(const std::string& name, const std::string& flag) {
  std::string n = name;
  const std::string suffix = "_noise";
  if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
    n = n.substr(0, n.size() - suffix.size());
  if (n == "gaussian") return Corruption::kGaussian;
  if (n == "shot") return Corruption::kShot;
  if (n == "speckle") return Corruption::kSpeckle;
  if (n == "impulse") return Corruption::kImpulse;
  throw InputError(flag + " '" + name + "': expected gaussian, shot, speckle or impulse");
}

std::string cifar10c_name(Corruption c) {
  return std::string(to_string(c)) + "_noise";
}

std::vector<double> sdnet_corruption_levels(Corruption c) {
  // np.arange(start, stop, step) evaluated as start + i·step (as numpy does).
  auto arange = [](double start, double stop, double step) {
    std::vector<double> v;
    const auto n = static_cast<int64_t>(std::ceil((stop - start) / step));
    for (int64_t i = 0; i < n; ++i) v.push_back(start + static_cast<double>(i) * step);
    return v;
  };
  switch (c) {
    case Corruption::kGaussian: return arange(0.02, 0.21, 0.02);  // 0.02 … 0.20
    case Corruption::kShot: return arange(60, 3, -6);             // 60, 54, …, 6
    case Corruption::kSpeckle: return arange(0.1, 0.7, 0.1);      // 0.1 … 0.6
    case Corruption::kImpulse: return arange(0.03, 0.3, 0.03);    // 0.03 … 0.30
  }
  return {};
}

std::vector<double> cifar10c_levels(Corruption c) {
  switch (c) {
    case Corruption::kGaussian: return {0.04, 0.06, 0.08, 0.09, 0.10};
    case Corruption::kShot: return {500, 250, 100, 75, 50};
    case Corruption::kSpeckle: return {0.06, 0.1, 0.12, 0.16, 0.2};
    case Corruption::kImpulse: return {0.01, 0.02, 0.03, 0.05, 0.07};
  }
  return {};
}

torch::Tensor corrupt_images(const torch::Tensor& x01, Corruption c, double level,
                             torch::Generator& gen, bool quantize) {
  TORCH_CHECK(x01.defined() && x01.is_floating_point(),
              "corrupt_images: expected float images in [0, 1], got ",
              x01.defined() ? x01.dtype().name() : "an undefined tensor");
  auto bad_level = [&](const std::string& what) {
    std::ostringstream s;
    s << "--levels " << level << ": " << what << " for " << to_string(c) << " noise";
    throw InputError(s.str());
  };
  if (!std::isfinite(level)) bad_level("not a finite number");
  // Work in float64 on the CPU, as the authors' numpy code does.
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  auto x = x01.detach().to(torch::kCPU, torch::kDouble).contiguous();
  torch::Tensor y;
  switch (c) {
    case Corruption::kGaussian: {
      if (level < 0) bad_level("σ must be >= 0");
      y = x + level * at::normal(0.0, 1.0, x.sizes(), gen, f64);
      break;
    }
    case Corruption::kShot: {
      if (level <= 0) bad_level("the photon count c must be > 0");
      y = at::poisson(x * level, gen) / level;
      break;
    }
    case Corruption::kSpeckle: {
      if (level < 0) bad_level("σ must be >= 0");
      y = x * (1.0 + level * at::normal(0.0, 1.0, x.sizes(), gen, f64));
      break;
    }
    case Corruption::kImpulse: {
      if (level < 0 || level > 1) bad_level("the amount must be in [0, 1]");
      // skimage.util.random_noise(mode='s&p'): flipped ~ Bernoulli(amount),
      // salted ~ Bernoulli(0.5), both per element.
      auto flipped = at::empty(x.sizes(), f64).uniform_(0.0, 1.0, gen) < level;
      auto salted = at::empty(x.sizes(), f64).uniform_(0.0, 1.0, gen) < 0.5;
      y = x.masked_fill(flipped & salted, 1.0).masked_fill(flipped & ~salted, 0.0);
      break;
    }
  }
  y = y.clamp(0.0, 1.0);
  if (quantize) y = torch::floor(y * 255.0) / 255.0;  // .astype(np.uint8), then ToTensor
  return y.to(x01.device(), x01.scalar_type());
}

}  // namespace sparseloop
