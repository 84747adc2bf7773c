// VDL training (families/vdl/trainer.h): the paper's ablation on a small
// problem, presets, option resolution, exact resume.
#include "sparseloop/engine/family.h"
#include "sparseloop/families/vdl/trainer.h"

#include <gtest/gtest.h>

#include "sparseloop/families/vdl/variance_hinge.h"
#include "sparseloop/util/error.h"
#include "sparseloop/util/fs.h"
#include "sparseloop/util/precision.h"
#include "support/data_files.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {

struct Outcome {
  double code_std = 0;      ///< mean over components of the batch std of the FISTA codes
  double code_l1 = 0;       ///< mean ‖z‖₁ per sample
  double decoder_norm = 0;  ///< mean column norm of W
  double rec_loss = 0;
};

/// Trains a linear sparse autoencoder on data from a planted sparse model
/// (d = 36, l = 16) and reports the codes at the end.
Outcome train_small(double beta, bool normalize, int64_t steps) {
  torch::manual_seed(0);
  const int64_t d = 36, l = 16, n = 200, B = 50;
  auto D = torch::randn({d, l});
  D /= D.norm(2, 0, true);
  auto z_true = torch::relu(torch::randn({n, l}) - 0.8) * 2;  // ~20 % non-zero
  auto data = z_true.mm(D.t()) + 0.05 * torch::randn({n, d});
  VdlModel model(VdlModelOptions(d, l));
  VdlTrainOptions o;
  o.inference = VdlInferenceOptions()
                    .energy(VdlEnergyOptions().lambda(0.05).beta(beta).threshold(0.5).gamma(1))
                    .step(0.5)
                    .max_steps(20)
                    .tolerance(1e-3);
  o.normalize_decoder = normalize;
  o.lr_decoder = 3e-2;
  o.lr_encoder = 3e-2;
  if (normalize) model->decoder->normalize_columns();
  VdlTrainer trainer(model, o);
  VdlStepStats s;
  for (int64_t k = 0; k < steps; ++k) s = trainer.step(data.narrow(0, (k % (n / B)) * B, B));
  Outcome out;
  auto y = data.narrow(0, 0, B);
  auto z = vdl_inference(model->decoder, y, model->encoder->forward(y).detach(), o.inference).z;
  out.code_std = batch_std(z).mean().item<double>();
  out.code_l1 = z.abs().sum(1).mean().item<double>();
  out.decoder_norm = model->decoder->linear->weight.norm(2, 0).mean().item<double>();
  out.rec_loss = s.rec_loss;
  return out;
}

}  // namespace

// The paper's ablation ("Ablation: no variance regularization"): with
// neither the variance hinge nor unit-norm columns, the ℓ1 penalty is
// lowered by shrinking the codes while the free decoder grows to compensate,
// so the codes collapse. The hinge (VDL) or the column norm (SDL) prevents it.
TEST(VdlAblation, CodesCollapseWithoutHingeOrColumnNorm) {
  const Outcome free = train_small(/*beta=*/0, /*normalize=*/false, 100);
  const Outcome vdl = train_small(/*beta=*/10, /*normalize=*/false, 100);
  const Outcome sdl = train_small(/*beta=*/0, /*normalize=*/true, 100);
  std::cout << "code std: free " << free.code_std << ", vdl " << vdl.code_std << ", sdl "
            << sdl.code_std << "; decoder norm: free " << free.decoder_norm << ", vdl "
            << vdl.decoder_norm << ", sdl " << sdl.decoder_norm << "; l1: free " << free.code_l1
            << ", vdl " << vdl.code_l1 << ", sdl " << sdl.code_l1 << std::endl;
  EXPECT_LT(free.code_std, 0.3 * vdl.code_std);
  EXPECT_LT(free.code_std, 0.3 * sdl.code_std);
  EXPECT_GT(free.decoder_norm, 3 * sdl.decoder_norm);
  EXPECT_GT(vdl.code_std, 0.35);  // held near T = 0.5 by the hinge
  EXPECT_NEAR(sdl.decoder_norm, 1.0, 1e-5);
}

TEST(VdlPresets, OneRowPerTable3Entry) {
  auto ps = vdl_presets();
  ASSERT_EQ(ps.size(), 8u);
  for (const auto& p : ps) {
    VdlConfig c;
    ValuesReader r(p.values, p.name);
    CommonTrainConfig common;
    common.visit(r);
    c.visit(r);
    EXPECT_TRUE(r.unused().empty()) << p.name;
    auto o = resolve_vdl_options(p.model, c);
    const bool sdl = p.model.rfind("sdl", 0) == 0;
    EXPECT_EQ(o.normalize_decoder, sdl) << p.name;
    EXPECT_EQ(o.inference.energy().beta(), sdl ? 0.0 : 10.0) << p.name;
    EXPECT_EQ(common.batch_size, 250);
  }
  VdlConfig c;
  ValuesReader r(find_preset("mnist-vdl").values, "preset");
  c.visit(r);
  EXPECT_DOUBLE_EQ(c.lambda, 0.02);
  EXPECT_DOUBLE_EQ(c.gamma, 5);
  EXPECT_DOUBLE_EQ(c.inference_step, 0.5);
}

TEST(VdlOptions, ModelDefaultsAndBadValues) {
  VdlConfig c;
  EXPECT_EQ(resolve_vdl_options("vdl", c).inference.energy().beta(), 10.0);
  EXPECT_EQ(resolve_vdl_options("sdl-nl", c).inference.energy().beta(), 0.0);
  EXPECT_TRUE(resolve_vdl_options("sdl", c).normalize_decoder);
  EXPECT_FALSE(resolve_vdl_options("vdl", c).normalize_decoder);
  EXPECT_EQ(make_vdl_model("vdl-nl", c, 784)->decoder->options.hidden_dim(), 1024);
  EXPECT_EQ(make_vdl_model("vdl", c, 784)->decoder->options.hidden_dim(), 0);
  c.stop_rule = "sometimes";
  EXPECT_THROW(resolve_vdl_options("vdl", c), InputError);
  c = VdlConfig();
  c.lambda = -1;
  EXPECT_THROW(resolve_vdl_options("vdl", c), InputError);
  c = VdlConfig();
  EXPECT_THROW(resolve_vdl_options("ctrl", c), InputError);
}

// Resuming from ANY checkpoint reproduces the uninterrupted run, file for
// file: from a --time-limit stop at a step that is not a validation step and
// from a periodic checkpoint (a SIGKILL right after it was written). The
// stop's validation once ran before its checkpoint, which then carried that
// validation into the patience count (lowest energy, validations without
// progress): a resumed run could stop for patience where the uninterrupted
// one went on.
namespace {
/// 4 steps of VDL at batch 40 on the bar digits in DIR/mnist, validated at the end.
CommonTrainConfig tiny_vdl_run(const ts::TempDir& dir, const std::string& run) {
  CommonTrainConfig c;
  c.model = "vdl";
  c.data = "mnist";
  c.data_dir = dir.file("mnist");
  c.out = dir.file(run);
  c.batch_size = 40;
  c.max_steps = 4;
  c.eval_every = 4;
  c.threads = 1;
  c.seed = 3;
  c.device = "cpu";
  return c;
}
}  // namespace

TEST(VdlTrainer, ResumeFromAnyCheckpointIsByteExact) {
  torch::set_num_threads(1);
  ts::TempDir dir;
  test_data::write_bar_digits(dir.file("mnist"), 200, 20, true);
  VdlConfig cfg;
  cfg.code_dim = 16;
  cfg.inference_steps = 30;
  cfg.patience = 2;
  auto common = [&](const std::string& run) {
    CommonTrainConfig c = tiny_vdl_run(dir, run);
    c.checkpoint_every = 2;
    c.keep_checkpoints = 10;
    c.log_every = 1;
    return c;
  };
  train_vdl(common("ref"), cfg);

  auto c = common("time");
  c.time_limit = 1e-6;  // stops after step 1: no validation, no periodic checkpoint
  EXPECT_TRUE(train_vdl(c, cfg)["stopped_by_time_limit"].get<bool>());
  c.time_limit = 0;
  c.resume = true;
  EXPECT_EQ(train_vdl(c, cfg)["steps"].get<int64_t>(), 4);
  ts::expect_same_run_files(dir.file("ref"), dir.file("time"));

  ts::copy_run_killed_after(dir.file("ref"), dir.file("killed"), 2);
  auto k = common("killed");
  k.resume = true;
  EXPECT_EQ(train_vdl(k, cfg)["steps"].get<int64_t>(), 4);
  ts::expect_same_run_files(dir.file("ref"), dir.file("killed"));
}

// --precision bf16 end to end: saved in config.toml (so --resume keeps it),
// the training runs and lands near the fp32 run without equalling it.
TEST(VdlTrainer, Bf16PrecisionIsSavedAndTrainsNearFp32) {
  torch::set_num_threads(1);
  PrecisionGuard restore(Precision::kFp32);  // train_vdl sets the process's precision
  ts::TempDir dir;
  test_data::write_bar_digits(dir.file("mnist"), 200, 20, true);
  VdlConfig cfg;
  cfg.code_dim = 16;
  cfg.inference_steps = 30;
  auto run = [&](const std::string& name, Precision p) {
    CommonTrainConfig c = tiny_vdl_run(dir, name);
    c.precision = p;
    return train_vdl(c, cfg);
  };
  const auto fp32 = run("fp32", Precision::kFp32);
  const auto bf16 = run("bf16", Precision::kBf16);
  EXPECT_EQ(compute_precision(), Precision::kBf16);
  EXPECT_NE(read_file(dir.file("bf16") + "/config.toml").find("precision = \"bf16\""),
            std::string::npos);
  EXPECT_NE(read_file(dir.file("fp32") + "/config.toml").find("precision = \"fp32\""),
            std::string::npos);
  const double a = fp32["best_energy"].get<double>();
  const double b = bf16["best_energy"].get<double>();
  EXPECT_TRUE(std::isfinite(b));
  EXPECT_NE(a, b);
  EXPECT_NEAR(a, b, 0.05 * std::abs(a));
}
