// An independent classifier of real images, used to score reconstructions:
// consistency accuracy = its accuracy on X̂ = g(f(X)) against the true labels
// (docs/design.md §5.4: the measure of sample-wise alignment). It never sees the
// autoencoder: it is trained on the real training images only, once per
// dataset, and cached.
#pragma once

#include <functional>
#include <string>

#include <torch/torch.h>

#include "sparseloop/data/dataset.h"

namespace sparseloop {

/// A small CNN for images up to 32×32 (larger ones are averaged down to
/// 32×32) on per-image standardized pixels: two conv-conv-pool stages, a
/// two-layer head.
class SmallCnnImpl : public torch::nn::Module {
 public:
  SmallCnnImpl(int64_t channels, int64_t classes, int64_t width = 32);
  torch::Tensor forward(const torch::Tensor& x);  ///< (B, C, H, W) → logits (B, classes)
  /// The body without autograd (forward under NoGradGuard): the same values
  /// in fewer passes over memory.
  torch::Tensor judge_body(const torch::Tensor& z);

 private:
  torch::nn::Sequential body{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(SmallCnn);

struct ReferenceClassifier {
  SmallCnn net{nullptr};
  double test_accuracy = 0;  ///< on the real test images
  std::string path;          ///< where it is cached
};

/// Images as the classifier sees them: uint8 dataset samples → float
/// (B, C, S, S) in [−1, 1] (the closed-loop models' input space).
using ImagePrep = std::function<torch::Tensor(const torch::Tensor& images01)>;

/// The reference classifier's fit: width (channels of its first stage),
/// Adam's learning rate (÷ 20 for the last quarter) and the most images it
/// sees whatever `epochs` asks (256 batches of 128). Chosen by measurement
/// (docs/results.md, "The reference classifier"): on the embedded digits
/// width 32, lr 1e-3 and 80 000 images took 2.5 min for 0.978 on the real test
/// digits; these settings take 48 s for 0.979 (issue 14: "seconds, not minutes").
constexpr int64_t kClassifierWidth = 24;
constexpr double kClassifierLearningRate = 2e-3;
constexpr int64_t kMaxClassifierImages = 32768;
/// The largest side the classifier looks at: larger images are averaged
/// down to it first (64×64 crops: 2×2 means), which makes their fit as fast
/// as a 32×32 set's.
constexpr int64_t kClassifierSize = 32;

/// Loads the classifier cached at `cache_path`, or trains one on `train`
/// (Adam, random ±2 px shifts, `epochs` epochs), measures it on `test`,
/// caches it (atomically) and returns it. Deterministic for a given seed.
ReferenceClassifier reference_classifier(const ImageDataset& train, const ImageDataset& test,
                                         const ImagePrep& prep, const std::string& cache_path,
                                         torch::Device device, int64_t epochs = 10,
                                         uint64_t seed = 0);

/// Accuracy of `net` on images (B, C, H, W) in [−1, 1] with `labels` (B,).
double classifier_accuracy(SmallCnn& net, const torch::Tensor& images, const torch::Tensor& labels,
                           int64_t batch_size = 500);

/// Where the classifier for (dataset, data_dir, size) is cached.
std::string reference_classifier_path(const std::string& dataset, const std::string& data_dir,
                                      int64_t size);

}  // namespace sparseloop
