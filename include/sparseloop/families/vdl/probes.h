// Linear probes: how much class information frozen features carry.
// A linear classifier (one Linear layer with bias, cross-entropy, Adam) is
// trained on (features, labels) and scored by top-k accuracy on held-out
// features. Generic: any model's codes, or raw pixels as the baseline.
// The few-shot protocol of VDL (Evtimova & LeCun 2022, classification in
// the low-data regime; the authors' eval_classification.py): the first n
// samples of each class, Adam lr 1e-3, batch 250, 100 epochs; the epoch with
// the lowest validation loss is the one evaluated (the authors' script meant
// to, but kept a reference to the live model and so reported the last
// epoch; docs/vdl.md).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

struct LinearProbeOptions {
  int64_t epochs = 100;
  int64_t batch_size = 250;          ///< the last, smaller batch is kept (few-shot sets are small)
  double lr = 1e-3;                  ///< Adam
  double weight_decay = 0.0;         ///< Adam's (coupled) L2
  std::vector<int64_t> top_k = {1, 3};
  uint64_t seed = 0;                 ///< initialisation and batch order
  /// Evaluate the weights of the epoch with the lowest validation loss (needs
  /// validation features); otherwise the last epoch's.
  bool select_by_validation = true;
  torch::Device device = torch::kCPU;
};

struct LinearProbeResult {
  std::map<int64_t, double> accuracy;  ///< k → top-k accuracy on the test features, in [0, 1]
  double test_loss = 0;                ///< mean cross-entropy on the test features
  double train_accuracy = 0;           ///< top-1 on the training features
  double val_loss = 0;                 ///< validation loss of the chosen epoch (0 without validation)
  int64_t epoch = 0;                   ///< the chosen epoch (1-based)
  int64_t train_size = 0;
  double top(int64_t k) const;         ///< accuracy[k]; throws when k was not asked for
};

/// Fraction of rows whose label is among the k largest logits. logits (N, C), labels (N,).
double topk_accuracy(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k);

/// Trains a linear classifier on train_x (N, F) / train_y (N,) int64 in
/// [0, num_classes) and evaluates it on test_x / test_y. val_x / val_y may be
/// undefined. Features are used as they are (the authors do not normalise codes).
LinearProbeResult linear_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                               const torch::Tensor& test_x, const torch::Tensor& test_y,
                               int64_t num_classes, const LinearProbeOptions& options,
                               const torch::Tensor& val_x = {}, const torch::Tensor& val_y = {});

/// Positions of the first n samples of each class in `labels` order (fewer
/// when a class has fewer), grouped by class: (≤ n·num_classes,) int64.
torch::Tensor first_per_class_indices(const torch::Tensor& labels, int64_t n, int64_t num_classes);

struct FewShotResult {
  int64_t shots = 0;  ///< samples per class
  LinearProbeResult result;
};

/// linear_probe on the first n samples per class of the training features,
/// for every n in `shots`.
std::vector<FewShotResult> few_shot_probe(const torch::Tensor& train_x, const torch::Tensor& train_y,
                                          const torch::Tensor& test_x, const torch::Tensor& test_y,
                                          int64_t num_classes, const std::vector<int64_t>& shots,
                                          const LinearProbeOptions& options,
                                          const torch::Tensor& val_x = {},
                                          const torch::Tensor& val_y = {});

}  // namespace sparseloop
