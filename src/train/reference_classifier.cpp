#include "sparseloop/train/reference_classifier.h"

#include <functional>

#include "sparseloop/data/mnist.h"
#include "sparseloop/data/sampler.h"
#include "sparseloop/data/transforms.h"
#include "sparseloop/io/safetensors.h"
#include "sparseloop/train/checkpoint.h"
#include "sparseloop/util/fs.h"

namespace sparseloop {

SmallCnnImpl::SmallCnnImpl(int64_t channels, int64_t classes, int64_t w) {
  torch::nn::Sequential seq;
  auto block = [&](int64_t in, int64_t out) {
    seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
    seq->push_back(torch::nn::BatchNorm2d(out));
    seq->push_back(torch::nn::ReLU());
  };
  block(channels, w);
  seq->push_back(torch::nn::MaxPool2d(2));
  block(w, 2 * w);
  seq->push_back(torch::nn::MaxPool2d(2));
  block(2 * w, 4 * w);
  seq->push_back(torch::nn::AdaptiveAvgPool2d(1));
  seq->push_back(torch::nn::Flatten());
  body = register_module("body", seq);
  head = register_module("head", torch::nn::Linear(4 * w, classes));
}

torch::Tensor SmallCnnImpl::forward(const torch::Tensor& x) {
  return head->forward(body->forward(x));  // (B, classes)
}

std::string reference_classifier_path(const std::string& dataset, const std::string& data_dir,
                                      int64_t size) {
  // One cached classifier per data folder: a short hash of its path.
  const size_t h = std::hash<std::string>{}(data_dir);
  char tag[32];
  std::snprintf(tag, sizeof tag, "%08zx", h & 0xffffffffu);
  return default_data_root() + "/classifiers/" + dataset + "-" + std::to_string(size) + "-" +
         (data_dir.empty() ? std::string("embedded") : std::string(tag)) + ".safetensors";
}

double classifier_accuracy(SmallCnn& net, const torch::Tensor& images, const torch::Tensor& labels,
                           int64_t batch_size) {
  torch::NoGradGuard no_grad;
  net->eval();
  const auto device = net->parameters().front().device();
  int64_t correct = 0;
  for (int64_t i = 0; i < images.size(0); i += batch_size) {
    const int64_t n = std::min(batch_size, images.size(0) - i);
    auto logits = net->forward(images.narrow(0, i, n).to(device));
    correct += (logits.argmax(1).cpu() == labels.narrow(0, i, n).cpu()).sum().item<int64_t>();
  }
  return images.size(0) ? static_cast<double>(correct) / images.size(0) : 0.0;
}

ReferenceClassifier reference_classifier(const ImageDataset& train, const ImageDataset& test,
                                         const ImagePrep& prep, const std::string& cache_path,
                                         torch::Device device, int64_t epochs, uint64_t seed) {
  TORCH_CHECK(train.labelled() && test.labelled(), "reference classifier needs labels");
  ReferenceClassifier rc;
  rc.path = cache_path;
  rc.net = SmallCnn(train.channels(), train.num_classes);
  rc.net->to(device);
  auto all = torch::arange(test.size(), torch::kLong);
  auto test_x = prep(test.batch_float(all));
  auto test_y = test.batch_labels(all);
  if (file_exists(cache_path)) {
    try {
      load_weights(cache_path, *rc.net);
      rc.net->to(device);
      rc.test_accuracy = classifier_accuracy(rc.net, test_x, test_y);
      return rc;
    } catch (const std::exception&) {
      // A damaged or stale cache is retrained below.
    }
  }
  torch::manual_seed(seed);
  rc.net = SmallCnn(train.channels(), train.num_classes);
  rc.net->to(device);
  torch::optim::Adam opt(rc.net->parameters(), torch::optim::AdamOptions(2e-3));
  EpochSampler sampler(train.size(), 128, true, seed ^ 0xC1A55u, true);
  auto gen = make_generator(seed, 0xC1A55u);
  rc.net->train();
  for (int64_t e = 0; e < epochs; ++e) {
    for (int64_t b = 0; b < sampler.batches_per_epoch(); ++b) {
      auto idx = sampler.batch(e, b);
      // ±2 px random shifts: robustness to the small misalignments of reconstructions.
      auto x = random_crop(prep(train.batch_float(idx)) + 1.0, 2, gen) - 1.0;
      auto y = train.batch_labels(idx).to(device);
      opt.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(rc.net->forward(x.to(device)), y);
      loss.backward();
      opt.step();
    }
  }
  rc.test_accuracy = classifier_accuracy(rc.net, test_x, test_y);
  make_dirs(cache_path.substr(0, cache_path.find_last_of('/')));
  save_weights(cache_path, *rc.net, {{"test_accuracy", std::to_string(rc.test_accuracy)}});
  return rc;
}

}  // namespace sparseloop
