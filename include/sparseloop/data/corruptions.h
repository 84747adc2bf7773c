// Image corruptions of SDNet's robust-inference experiment (Dai et al.,
// NeurIPS 2022, §4.3; authors' robust_inference.py L23-56), which use the
// formulas of CIFAR-10-C (Hendrycks & Dietterich, ICLR 2019):
//   gaussian  clip(x + N(0, c²), 0, 1)
//   shot      clip(Poisson(c·x) / c, 0, 1)                 (smaller c: noisier)
//   speckle   clip(x · (1 + N(0, c²)), 0, 1)
//   impulse   salt & pepper: each element (each channel separately) is, with
//             probability c, set to 1 or 0 with equal odds (skimage
//             random_noise(mode='s&p', amount=c), salt_vs_pepper = 0.5)
// on images x in [0, 1]. The authors corrupt uint8 images and cast the
// result back with .astype(np.uint8), i.e. floor(255·v)/255 (truncation, not
// rounding); `quantize = true` does the same, `false` keeps float images.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

enum class Corruption { kGaussian, kShot, kSpeckle, kImpulse };

const char* to_string(Corruption c);
/// "gaussian" | "shot" | "speckle" | "impulse" (also the CIFAR-10-C names
/// "gaussian_noise", …); InputError naming `flag` otherwise.
Corruption parse_corruption(const std::string& name, const std::string& flag = "--corruption");
/// File stem of the corruption in CIFAR-10-C ("gaussian_noise", …).
std::string cifar10c_name(Corruption c);

/// The levels of SDNet's robust_inference.py (np.arange endpoints checked):
/// gaussian 0.02…0.20 (10), shot 60, 54, …, 6 (10), speckle 0.1…0.6 (6),
/// impulse 0.03…0.30 (10).
std::vector<double> sdnet_corruption_levels(Corruption c);
/// CIFAR-10-C's severities 1–5 for the same formulas (make_cifar_c.py):
/// gaussian {.04,.06,.08,.09,.10}, shot {500,250,100,75,50},
/// speckle {.06,.1,.12,.16,.2}, impulse {.01,.02,.03,.05,.07}.
std::vector<double> cifar10c_levels(Corruption c);

/// Corrupts images `x01` (any shape, float, values in [0, 1], any device) at
/// `level`, drawing the noise from the CPU generator `gen` (so results do not
/// depend on the device). Returns a tensor of x01's dtype and device in
/// [0, 1]; with `quantize`, every value is a multiple of 1/255 (uint8
/// truncation as in the authors' pipeline). Throws InputError for a level
/// outside the corruption's domain (σ < 0, c ≤ 0, amount ∉ [0, 1]).
torch::Tensor corrupt_images(const torch::Tensor& x01, Corruption c, double level,
                             torch::Generator& gen, bool quantize = true);

}  // namespace sparseloop
