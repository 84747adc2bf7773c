// VDL decoders, energy and FISTA inference (families/vdl/model.h) against
// independent references: float64 finite differences, autograd, and a
// line-by-line transcription of the authors' `utils.ISTA`.
#include "sparseloop/families/vdl/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sparseloop/families/vdl/variance_hinge.h"
#include "support/testing.h"

using namespace sparseloop;

namespace {
auto f64 = torch::TensorOptions().dtype(torch::kDouble);

VdlDecoder make_decoder(int64_t l, int64_t d, int64_t hidden, uint64_t seed) {
  torch::manual_seed(seed);
  VdlDecoder dec(VdlDecoderOptions(l, d).hidden_dim(hidden));
  dec->to(torch::kDouble);
  if (hidden > 0) {
    torch::NoGradGuard g;
    dec->layer1->bias.uniform_(-0.2, 0.2);  // exercise the bias
  }
  return dec;
}

/// Energy written from the paper/notes with plain tensor ops (not vdl_energy).
double energy_direct(VdlDecoder& dec, const torch::Tensor& y, const torch::Tensor& z,
                     const torch::Tensor& e, const VdlEnergyOptions& o, bool with_l1) {
  torch::Tensor yhat;
  if (dec->is_linear()) {
    yhat = z.matmul(dec->linear->weight.detach().t());
  } else {
    auto h = torch::relu(z.matmul(dec->layer1->weight.detach().t()) + dec->layer1->bias.detach());
    yhat = h.matmul(dec->layer2->weight.detach().t());
  }
  const double P = y.size(1), l = z.size(1), n = z.size(0);
  double E = ((y - yhat).pow(2).sum() / P).item<double>();
  auto m = z.mean(0);
  auto s = ((z - m).pow(2).sum(0) / (n - 1)).sqrt();
  E += o.beta() * torch::relu(o.threshold() - s).pow(2).sum().item<double>();
  E += o.gamma() * ((z - e).pow(2).sum() / l).item<double>();
  if (with_l1) E += o.lambda() * z.abs().sum().item<double>();
  return E;
}

/// The authors' utils.ISTA (FISTA, positive, flags recomputed each step),
/// transcribed with autograd for the gradient: an independent reference.
torch::Tensor authors_ista(VdlDecoder& dec, const torch::Tensor& y, const torch::Tensor& enc,
                           const VdlEnergyOptions& o, double eta, int64_t n_steps, double tol,
                           int64_t* steps_run = nullptr) {
  torch::Tensor Z = enc.clone(), aux = enc.clone();
  auto flags = torch::zeros({y.size(0), 1}, f64);
  double t_old = 1;
  int64_t step = 0;
  for (; step < n_steps; ++step) {
    auto x = aux.detach().requires_grad_(true);
    auto loss = (y - dec->forward(x)).pow(2).mean(1).sum() +
                o.beta() * variance_hinge(x, o.threshold()) +
                o.gamma() * (x - enc).pow(2).mean(1).sum();
    auto g = torch::autograd::grad({loss}, {x})[0];
    torch::NoGradGuard ng;
    auto Z_old = Z;
    auto u = x - (1 - flags) * eta * g;
    auto thr = (1 - flags) * o.lambda() * eta;
    Z = torch::relu(u.sign() * torch::relu(u.abs() - thr));  // soft threshold, then relu
    const double t_new = (1 + std::sqrt(1 + 4 * t_old * t_old)) / 2;
    aux = Z + ((t_old - 1) / t_new) * (Z - Z_old);
    t_old = t_new;
    auto rel = (Z_old - Z).norm(2, 1) / Z_old.norm(2, 1);  // NaN/inf when ‖Z_old‖ = 0
    flags = (rel < tol).to(torch::kDouble).unsqueeze(1);
    if (step < n_steps - 1 && flags.min().item<double>() == 1) {
      ++step;
      break;
    }
  }
  if (steps_run) *steps_run = step;
  return Z;
}

struct Problem {
  torch::Tensor y, enc;
};

Problem make_problem(VdlDecoder& dec, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Problem p;
  p.y = torch::randn({n, dec->options.output_dim()}, f64);
  p.enc = torch::relu(torch::randn({n, dec->options.code_dim()}, f64) * 0.5);
  return p;
}

// Weights scaled to these tiny sizes so that a fixed step of 0.5–1 is stable:
// the code term's curvature is 2γ/l and the hinge's ≈ 2β/(n − 1) (the
// paper's β = 10, γ = 5 assume l = 128, n = 250).
const VdlEnergyOptions kVdl = VdlEnergyOptions().lambda(0.02).beta(2).threshold(0.5).gamma(1);
}  // namespace

TEST(VdlDecoder, ShapesAndInitialisation) {
  VdlDecoder lin(VdlDecoderOptions(8, 20));
  EXPECT_EQ(lin->linear->weight.sizes(), (std::vector<int64_t>{20, 8}));
  EXPECT_FALSE(lin->linear->bias.defined());
  VdlDecoder nl(VdlDecoderOptions(8, 20).hidden_dim(32));
  EXPECT_EQ(nl->layer1->bias.abs().max().item<double>(), 0.0);
  EXPECT_FALSE(nl->layer2->bias.defined());
  EXPECT_EQ(nl->forward(torch::randn({3, 8})).sizes(), (std::vector<int64_t>{3, 20}));
  EXPECT_THROW(nl->forward(torch::randn({3, 9})), c10::Error);
}

// Analytic ∇_z of the whole smooth energy (reconstruction + β hinge + γ code)
// against central differences of the directly written energy, float64,
// linear and non-linear decoders.
TEST(VdlEnergy, SmoothGradientMatchesFiniteDifferences) {
  for (int64_t hidden : {0, 24}) {
    auto dec = make_decoder(6, 15, hidden, 3);
    auto p = make_problem(dec, 7, 4);
    auto z = torch::relu(torch::randn({7, 6}, f64)) * 0.4 + 0.01;  // several std < T
    auto g = vdl_smooth_grad(dec, p.y, z, p.enc, kVdl);
    const double h = 1e-6;
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < z.size(0); ++i)
      for (int64_t j = 0; j < z.size(1); ++j) {
        auto zp = z.clone(), zm = z.clone();
        zp[i][j] += h;
        zm[i][j] -= h;
        const double fd = (energy_direct(dec, p.y, zp, p.enc, kVdl, false) -
                           energy_direct(dec, p.y, zm, p.enc, kVdl, false)) /
                          (2 * h);
        worst = std::max(worst, std::abs(fd - g[i][j].item<double>()));
        scale = std::max(scale, std::abs(fd));
      }
    EXPECT_LT(worst / scale, 1e-7) << "hidden " << hidden;
    // vdl_energy's total (with λ‖z‖₁) equals the direct formula.
    auto E = vdl_energy(dec, p.y, z, p.enc, kVdl);
    EXPECT_NEAR(E.total.item<double>(), energy_direct(dec, p.y, z, p.enc, kVdl, true), 1e-10);
  }
}

// The non-linear decoder's analytic reconstruction gradient equals autograd.
TEST(VdlDecoder, AnalyticGradientEqualsAutograd) {
  for (int64_t hidden : {0, 40}) {
    auto dec = make_decoder(9, 30, hidden, 5);
    auto p = make_problem(dec, 11, 6);
    auto z = torch::randn({11, 9}, f64).requires_grad_(true);
    auto rec = (p.y - dec->forward(z)).pow(2).mean(1).sum();
    auto ga = torch::autograd::grad({rec}, {z})[0];
    auto g = dec->reconstruction_grad(z.detach(), p.y);
    EXPECT_LT((g - ga).abs().max().item<double>() / ga.abs().max().item<double>(), 1e-13);
  }
}

// The decoder's parameters get gradients through vdl_energy (the decoder loss path).
TEST(VdlEnergy, DecoderParametersGetGradients) {
  auto dec = make_decoder(5, 12, 16, 7);
  auto p = make_problem(dec, 6, 8);
  const double err = ts::gradcheck_error(
      [&](const torch::Tensor& w) {
        auto h = torch::relu(p.enc.matmul(w.t()) + dec->layer1->bias.detach());
        return (p.y - h.matmul(dec->layer2->weight.detach().t())).pow(2).mean(1).sum();
      },
      dec->layer1->weight.detach().clone());
  EXPECT_LT(err, 1e-7);
}

TEST(VdlDecoder, NormalizeColumnsOfEveryLayer) {
  auto nl = make_decoder(6, 14, 10, 9);
  auto bias = nl->layer1->bias.detach().clone();
  nl->normalize_columns();
  EXPECT_TRUE(torch::allclose(nl->layer1->weight.norm(2, 0), torch::ones({6}, f64)));
  EXPECT_TRUE(torch::allclose(nl->layer2->weight.norm(2, 0), torch::ones({10}, f64)));
  EXPECT_TRUE(torch::equal(nl->layer1->bias.detach(), bias));
  EXPECT_TRUE(torch::allclose(nl->dictionary(),
                              nl->layer2->weight.detach().mm(nl->layer1->weight.detach())));
  auto lin = make_decoder(6, 14, 0, 10);
  {
    torch::NoGradGuard g;
    lin->linear->weight.select(1, 2).zero_();  // a dead atom stays 0, no NaN
  }
  lin->normalize_columns(2.0);
  auto norms = lin->linear->weight.norm(2, 0);
  EXPECT_NEAR(norms[0].item<double>(), 2.0, 1e-12);
  EXPECT_EQ(norms[2].item<double>(), 0.0);
}

// With tolerance 0 the loop runs the authors' iteration exactly: same
// iterates as the autograd transcription, linear (Gram form) and non-linear.
TEST(VdlInference, MatchesAuthorsIterationWithoutEarlyStop) {
  for (int64_t hidden : {0, 20}) {
    auto dec = make_decoder(8, 25, hidden, 11);
    auto p = make_problem(dec, 20, 12);
    for (double eta : {0.5, 1.0}) {
      auto o = VdlInferenceOptions().energy(kVdl).step(eta).max_steps(40).tolerance(0);
      auto r = vdl_inference(dec, p.y, p.enc, o);
      auto ref = authors_ista(dec, p.y, p.enc, kVdl, eta, 40, 0.0);
      EXPECT_EQ(r.iterations, 40);
      EXPECT_LT((r.z - ref).abs().max().item<double>(), 1e-10) << "hidden " << hidden;
      EXPECT_EQ(r.sample_steps.min().item<int64_t>(), 40);
    }
  }
}

// float32 runs the fused CPU step (one product into a buffer, the hinge and
// the end of the iteration by hand): the float64 reference's codes to float
// tolerance.
TEST(VdlInference, Float32FusedStepsMatchFloat64Reference) {
  auto dec = make_decoder(16, 64, 0, 13);
  auto p = make_problem(dec, 50, 14);
  auto o = VdlInferenceOptions().energy(kVdl).step(0.5).max_steps(100).tolerance(0);
  auto ref = authors_ista(dec, p.y, p.enc, kVdl, 0.5, 100, 0.0);
  auto dec32 = std::dynamic_pointer_cast<VdlDecoderImpl>(dec->clone());
  VdlDecoder d32(dec32);
  d32->to(torch::kFloat);
  auto z = vdl_inference(d32, p.y.to(torch::kFloat), p.enc.to(torch::kFloat), o).z;
  EXPECT_EQ(z.scalar_type(), torch::kFloat);
  EXPECT_LT((z.to(torch::kDouble) - ref).norm().item<double>() / ref.norm().item<double>(), 1e-5);
}

// The authors' stop rule reproduces their loop, flags, momentum drift and all.
TEST(VdlInference, AuthorsStopRuleMatchesTranscription) {
  auto dec = make_decoder(8, 25, 0, 13);
  auto p = make_problem(dec, 20, 14);
  auto o = VdlInferenceOptions().energy(kVdl).step(0.5).max_steps(200).tolerance(1e-3).stop_rule(
      StopRule::kAuthors);
  auto r = vdl_inference(dec, p.y, p.enc, o);
  int64_t steps = 0;
  auto ref = authors_ista(dec, p.y, p.enc, kVdl, 0.5, 200, 1e-3, &steps);
  EXPECT_EQ(r.iterations, steps);
  EXPECT_LT((r.z - ref).abs().max().item<double>(), 1e-10);
}

// Converged codes satisfy the proximal fixed point z = max(z − η∇f(z) − ηλ, 0)
// (linear decoder: the energy is convex up to the hinge; the non-linear
// decoder's ReLU makes ∇f discontinuous, where iterates may chatter at a
// kink, so it is checked against the transcription above instead).
TEST(VdlInference, ConvergesToProximalFixedPoint) {
  auto dec = make_decoder(8, 25, 0, 15);
  auto p = make_problem(dec, 20, 16);
  auto o = VdlInferenceOptions().energy(kVdl).step(0.5).max_steps(3000).tolerance(0);
  auto z = vdl_inference(dec, p.y, p.enc, o).z;
  auto g = vdl_smooth_grad(dec, p.y, z, p.enc, kVdl);
  auto fixed = torch::relu(z - 0.5 * g - 0.5 * kVdl.lambda());
  EXPECT_LT((fixed - z).abs().max().item<double>(), 1e-9);
  // And the energy went down from the warm start, for both decoders.
  for (int64_t hidden : {0, 20}) {
    auto d2 = make_decoder(8, 25, hidden, 15);
    auto z2 = vdl_inference(d2, p.y, p.enc, VdlInferenceOptions().energy(kVdl)).z;
    EXPECT_LT(vdl_energy(d2, p.y, z2, p.enc, kVdl).total.item<double>(),
              vdl_energy(d2, p.y, p.enc, p.enc, kVdl).total.item<double>())
        << "hidden " << hidden;
  }
}

// Early stop (default rule): a sample stops at the first step whose relative
// change is < tol, keeps that code, and the others go on. Without the hinge
// (β = 0) samples are independent, so each sample's code must equal a
// fixed-length run of exactly its own number of steps.
TEST(VdlInference, PerSampleEarlyStopFreezesCodes) {
  auto dec = make_decoder(8, 25, 0, 17);
  auto p = make_problem(dec, 8, 18);
  auto e = VdlEnergyOptions().lambda(0.02).beta(0).gamma(0.3);
  auto o = VdlInferenceOptions().energy(e).step(0.5).max_steps(200).tolerance(1e-3);
  auto r = vdl_inference(dec, p.y, p.enc, o);
  auto steps = r.sample_steps;
  EXPECT_GT(steps.max().item<int64_t>(), steps.min().item<int64_t>());  // samples differ
  EXPECT_EQ(r.iterations, steps.max().item<int64_t>());
  for (int64_t i = 0; i < 8; ++i) {
    const int64_t s = steps[i].item<int64_t>();
    auto fixed = vdl_inference(dec, p.y, p.enc, VdlInferenceOptions(o).tolerance(0).max_steps(s));
    EXPECT_LT((fixed.z[i] - r.z[i]).abs().max().item<double>(), 1e-12) << "sample " << i;
    // The stop criterion held at step s and not at step s − 1.
    auto before = vdl_inference(dec, p.y, p.enc, VdlInferenceOptions(o).tolerance(0).max_steps(s - 1));
    const double rel = ((fixed.z[i] - before.z[i]).norm() / before.z[i].norm()).item<double>();
    EXPECT_LT(rel, 1e-3);
    if (s >= 2) {
      auto before2 =
          vdl_inference(dec, p.y, p.enc, VdlInferenceOptions(o).tolerance(0).max_steps(s - 2));
      const double rel2 =
          ((before.z[i] - before2.z[i]).norm() / before2.z[i].norm()).item<double>();
      EXPECT_GE(rel2, 1e-3);
    }
  }
}

TEST(VdlInference, StopsAtCapAndHandlesZeroCodes) {
  auto dec = make_decoder(8, 25, 0, 19);
  auto p = make_problem(dec, 6, 20);
  auto o = VdlInferenceOptions().energy(kVdl).step(0.5).max_steps(7).tolerance(1e-14);
  auto r = vdl_inference(dec, p.y, p.enc, o);
  EXPECT_EQ(r.iterations, 7);
  EXPECT_EQ(r.sample_steps.min().item<int64_t>(), 7);
  EXPECT_DOUBLE_EQ(r.mean_steps, 7.0);
  // Inputs and encoder codes 0, no hinge: the codes stay exactly 0. The
  // default rule calls 0 → 0 converged after one step; the authors' rule
  // (0/0 = NaN) never does and runs to the cap.
  auto y0 = torch::zeros({4, 25}, f64), e0 = torch::zeros({4, 8}, f64);
  auto noh = VdlEnergyOptions().lambda(0.02).beta(0).gamma(5);
  auto fr = vdl_inference(dec, y0, e0, VdlInferenceOptions().energy(noh).max_steps(50));
  EXPECT_EQ(fr.iterations, 1);
  EXPECT_EQ(fr.z.abs().max().item<double>(), 0.0);
  auto au = vdl_inference(dec, y0, e0,
                          VdlInferenceOptions().energy(noh).max_steps(50).stop_rule(
                              StopRule::kAuthors));
  EXPECT_EQ(au.iterations, 50);
}

TEST(VdlInference, NonnegativeAndSignedShrinkage) {
  auto dec = make_decoder(8, 25, 0, 21);
  auto p = make_problem(dec, 20, 22);
  auto nn = vdl_inference(dec, p.y, p.enc, VdlInferenceOptions().energy(kVdl)).z;
  EXPECT_GE(nn.min().item<double>(), 0.0);
  EXPECT_GT((nn == 0).sum().item<int64_t>(), 0);
  auto sg = vdl_inference(dec, p.y, p.enc,
                          VdlInferenceOptions().energy(kVdl).nonnegative(false).max_steps(2000).tolerance(0))
                .z;
  EXPECT_LT(sg.min().item<double>(), 0.0);
  // Signed fixed point: z = S_{ηλ}(z − η∇f(z)).
  auto g = vdl_smooth_grad(dec, p.y, sg, p.enc, kVdl);
  auto u = sg - 0.5 * g;
  auto fixed = u.sign() * torch::relu(u.abs() - 0.5 * kVdl.lambda());
  EXPECT_LT((fixed - sg).abs().max().item<double>(), 1e-9);
}

TEST(VdlInference, RejectsMismatchedShapes) {
  auto dec = make_decoder(8, 25, 0, 23);
  EXPECT_THROW(vdl_inference(dec, torch::randn({4, 24}, f64), {}, VdlInferenceOptions()),
               c10::Error);
  EXPECT_THROW(vdl_inference(dec, torch::randn({4, 25}, f64), torch::randn({3, 8}, f64),
                             VdlInferenceOptions()),
               c10::Error);
}
