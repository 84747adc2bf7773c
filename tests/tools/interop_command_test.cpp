// `sparseloop export` and `import` against real PyTorch (issue 11): modules
// with the authors' names are built by Debian's python3-torch in the test
// (tests/tools/pytorch_fixture.py, never downloaded), converted by
// tools/torch2safetensors.py, imported, compared output for output, exported
// again and loaded back by torch with load_state_dict(strict=True). Skips
// where python3-torch is absent.
#include <filesystem>

#include <gtest/gtest.h>

#include "support/testing.h"
#include "sparseloop/engine/checkpoint.h"
#include "sparseloop/engine/config.h"
#include "sparseloop/engine/interop.h"
#include "sparseloop/families/sdnet/interop.h"
#include "sparseloop/families/sdnet/trainer.h"
#include "sparseloop/families/vdl/model.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/io/npy.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/process.h"

using namespace sparseloop;
namespace ts = sparseloop::test_support;

namespace {

const std::string kSource = SPARSELOOP_SOURCE_DIR;

/// A python3 that has torch and numpy, or "" (Debian's, then PATH's).
std::string python_with_torch() {
  for (const std::string p : {"/usr/bin/python3", "python3"}) {
    if (p[0] == '/' ? !file_exists(p) : find_on_path(p).empty()) continue;
    if (run_process({p, "-c", "import torch, numpy"}).exit_code == 0) return p;
  }
  return "";
}

struct Python {
  std::string exe = python_with_torch();
  void run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {exe};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto r = run_process(argv);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
};

#define SKIP_WITHOUT_TORCH(py) \
  if ((py).exe.empty()) GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh installs it)"

/// make the fixture, convert it, import it as `model` into dir/run.
std::string make_and_import(const Python& py, const ts::TempDir& dir, const std::string& model,
                            const std::vector<std::string>& inputs) {
  py.run({kSource + "/tests/tools/pytorch_fixture.py", "make", model, dir.path()});
  std::vector<std::string> conv = {kSource + "/tools/torch2safetensors.py"};
  for (const auto& i : inputs) conv.push_back(dir.file(i));
  conv.insert(conv.end(), {"-o", dir.file("authors.safetensors")});
  py.run(conv);
  const auto r = ts::run_cli("import --model " + model + " --from " +
                             dir.file("authors.safetensors") + " --out " + dir.file("run"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir.file("run");
}

/// Exports `run` for PyTorch and has torch load it strictly into the authors' module.
void export_and_check(const Python& py, const ts::TempDir& dir, const std::string& model,
                      const std::string& run) {
  const auto r = ts::run_cli("export --run " + run + " --format pytorch --out " +
                             dir.file("export.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("export.pt"), std::string::npos) << r.out;
  py.run({kSource + "/tests/tools/pytorch_fixture.py", "check", model, dir.path(),
          dir.file("export.pt")});
}

template <class Config>
Config run_config(const std::string& run, CommonTrainConfig& common) {
  Config c;
  read_run_config(run, common, c);
  return c;
}

/// The imported run's SDNet/ResNet (3×32², 10 classes) in evaluation mode, and its config.
Sdnet imported_sdnet(const std::string& run, const std::string& model, CommonTrainConfig& common,
                     SdnetConfig& cfg) {
  cfg = run_config<SdnetConfig>(run, common);
  Sdnet net = build_sdnet(model, cfg, 3, 10, 32);
  load_weights(run + "/model.safetensors", *net);
  net->eval();
  return net;
}

/// max |logits − y| of the model on the fixture's x against its PyTorch logits y.
double logit_difference(Sdnet& model, const ts::TempDir& dir) {
  torch::NoGradGuard no_grad;
  const auto x = read_npy(dir.file("x.npy"));  // (2, 3, 32, 32)
  const auto y = read_npy(dir.file("y.npy"));  // (2, 10): the PyTorch module's logits
  return (model->forward(x) - y).abs().max().item<double>();
}

}  // namespace

TEST(PytorchInterop, ResNet18ImportsWithTheAuthorsLogitsAndExportsBack) {
  Python py;
  SKIP_WITHOUT_TORCH(py);
  ts::TempDir dir;
  const std::string run = make_and_import(py, dir, "resnet18", {"authors.pth"});
  CommonTrainConfig common;
  SdnetConfig cfg;
  Sdnet model = imported_sdnet(run, "resnet18", common, cfg);
  EXPECT_EQ(common.data, "cifar10");  // guessed from 3 channels and 10 classes
  EXPECT_EQ(cfg.width, 8);
  EXPECT_LT(logit_difference(model, dir), 1e-4);
  export_and_check(py, dir, "resnet18", run);
}

TEST(PytorchInterop, Sdnet18ImportsWithTheAuthorsLogits) {
  Python py;
  SKIP_WITHOUT_TORCH(py);
  ts::TempDir dir;
  const std::string run = make_and_import(py, dir, "sdnet18", {"authors.pth"});
  CommonTrainConfig common;
  SdnetConfig cfg;
  Sdnet model = imported_sdnet(run, "sdnet18", common, cfg);
  EXPECT_DOUBLE_EQ(cfg.csc.lambda(), 0.1);  // the cifar10-sdnet preset: the authors' λ and steps
  EXPECT_EQ(cfg.csc.steps(), 2);
  // The fixture reproduces the authors' DictBlock forward; both sides estimate
  // L by power iteration, ours to its tolerance (measured: 2.8e-5).
  EXPECT_LT(logit_difference(model, dir), 2e-4);
  export_and_check(py, dir, "sdnet18", run);
}

TEST(PytorchInterop, SdnetAllImportsEveryTensorAndExportsBack) {
  Python py;
  SKIP_WITHOUT_TORCH(py);
  ts::TempDir dir;
  const std::string run = make_and_import(py, dir, "sdnet18-all", {"authors.pth"});
  CommonTrainConfig common;
  SdnetConfig cfg;
  Sdnet model = imported_sdnet(run, "sdnet18-all", common, cfg);
  torch::NoGradGuard no_grad;
  const auto logits = model->forward(read_npy(dir.file("x.npy")));  // runs with L re-estimated
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
  // Every tensor of ours equals the authors' one of the mapping's name.
  const TensorFile authors = load_safetensors(dir.file("authors.safetensors"));
  int64_t compared = 0;
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(authors.contains(sdnet_authors_name("sdnet18-all", p.key()))) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), authors.get(sdnet_authors_name("sdnet18-all", p.key()))))
        << p.key();
    ++compared;
  }
  EXPECT_GT(compared, 60);
  export_and_check(py, dir, "sdnet18-all", run);
}

TEST(PytorchInterop, VdlEncoderAndDecoderFilesImportWithTheAuthorsDecoding) {
  Python py;
  SKIP_WITHOUT_TORCH(py);
  for (const std::string model : {"vdl", "vdl-nl"}) {
    ts::TempDir dir;
    const std::string run = make_and_import(py, dir, model, {"enc.pth:encoder", "dec.pth:decoder"});
    CommonTrainConfig common;
    const auto cfg = run_config<VdlConfig>(run, common);
    EXPECT_EQ(cfg.code_dim, 16) << model;
    VdlModel m = make_vdl_model(model, cfg, 784);
    load_weights(run + "/model.safetensors", *m);
    torch::NoGradGuard no_grad;
    const auto z = read_npy(dir.file("x.npy"));  // (3, 16)
    const auto y = read_npy(dir.file("y.npy"));  // (3, 784): the authors' decoder of z
    EXPECT_TRUE(torch::allclose(m->decoder->forward(z), y, 1e-5, 1e-5)) << model;
    export_and_check(py, dir, model, run);
  }
}

TEST(PytorchInterop, RefusedImportsNameTheFileAndLeaveNoRun) {
  Python py;
  SKIP_WITHOUT_TORCH(py);
  ts::TempDir dir;
  make_and_import(py, dir, "resnet18", {"authors.pth"});
  const std::string from = dir.file("authors.safetensors");
  auto refused = [&](const std::string& args, const std::string& text) {
    const auto r = ts::run_cli("import " + args + " --out " + dir.file("bad"));
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("bad"))) << args;
  };
  refused("--model resnet34 --from " + from, "layer1.2.conv1.weight");  // a block ResNet-18 lacks
  refused("--model sdnet18 --from " + from, "layer0.0.dn.weight");
  refused("--model vdl --from " + from, "decoder.decoder.weight");
  refused("--model csc-ctrl --from " + from, "no published PyTorch code");
  refused("--model resnet18 --from " + dir.file("none.safetensors"), "none.safetensors");
  // A second import into the same run folder is refused; the first run is intact.
  const auto again = ts::run_cli("import --model resnet18 --from " + from + " --out " +
                                 dir.file("run"));
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already holds a run"), std::string::npos) << again.err;
}
