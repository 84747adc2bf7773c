#include "sparseloop/families/ctrl/game.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "sparseloop/sparse/dictionary_reuse.h"
#include "sparseloop/util/distributed.h"
#include "sparseloop/util/host_read.h"

namespace sparseloop {
namespace {

nlohmann::json terms_json(const ClosedLoopTerms& t, const std::string& prefix) {
  std::vector<std::pair<std::string, torch::Tensor>> terms{
      {"objective", t.objective}, {"delta_r", t.delta}, {"rate_z", t.rate_z},
      {"rate_z_hat", t.rate_z_hat}};
  if (t.sample_delta.defined()) terms.emplace_back("sample_delta_r", t.sample_delta);
  if (t.pixel_mse.defined()) terms.emplace_back("pixel_mse", t.pixel_mse);
  if (t.class_rate_z.defined()) {
    terms.emplace_back("class_rate_z", t.class_rate_z);
    terms.emplace_back("class_rate_z_hat", t.class_rate_z_hat);
  }
  // One host read for all terms (util/host_read.h): this runs every step.
  std::vector<torch::Tensor> values;
  for (const auto& term : terms) values.push_back(term.second);
  const auto v = host_read(values);
  nlohmann::json j;
  for (size_t i = 0; i < terms.size(); ++i) j[prefix + terms[i].first] = v[i];
  return j;
}

}  // namespace

ClosedLoopGame::ClosedLoopGame(std::shared_ptr<ClosedLoopModel> model, GameOptions o)
    : model_(std::move(model)), options_(o) {
  TORCH_CHECK(o.strategy() == 1 || o.strategy() == 2, "strategy must be 1 or 2");
  TORCH_CHECK(!o.class_conditional() || o.num_classes() > 0,
              "the class-conditional objective needs num_classes");
  TORCH_CHECK(o.encoder_lr_ratio() > 0 && std::isfinite(o.encoder_lr_ratio()),
              "encoder_lr_ratio must be > 0");
  auto adam = torch::optim::AdamOptions(o.lr()).betas(std::make_tuple(o.beta1(), o.beta2()));
  auto adam_enc = adam;
  adam_enc.lr(o.lr() * o.encoder_lr_ratio());
  // Two players, two optimizers: the shared dictionaries appear in both, each
  // with its own moment estimates (ascent and descent directions differ).
  opt_enc_ = std::make_unique<torch::optim::Adam>(model_->encoder_parameters(), adam_enc);
  opt_dec_ = std::make_unique<torch::optim::Adam>(model_->decoder_parameters(), adam);
  // Data-parallel: each player's gradients summed over the ranks.
  sync_enc_ = std::make_unique<GradientSync>(model_->encoder_parameters());
  sync_dec_ = std::make_unique<GradientSync>(model_->decoder_parameters());
}

void ClosedLoopGame::set_lr(double lr) {
  for (auto& group : opt_enc_->param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr * options_.encoder_lr_ratio());
  for (auto& group : opt_dec_->param_groups())
    static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

ClosedLoopTerms ClosedLoopGame::objective(const torch::Tensor& z0, const torch::Tensor& zh0,
                                          const torch::Tensor& y0) const {
  // ΔR is a statistic of the whole (global) batch: gather every rank's rows.
  const auto z = allgather_rows_grad(z0), zh = allgather_rows_grad(zh0);  // (B, d)
  if (options_.class_conditional()) {
    const auto y = distributed() ? world().allgather_rows(y0) : y0;     // (B,)
    return closed_loop_objective(z, zh, y, options_.num_classes(), options_.eps_sq(),
                                 options_.sample_weight());
  }
  return closed_loop_objective(z, zh, {}, 0, options_.eps_sq(), options_.sample_weight());
}

ClosedLoopTerms ClosedLoopGame::ascent_objective(const torch::Tensor& x, const torch::Tensor& y) {
  // X̂ is a constant for the encoder player: the decoder's use of the shared
  // dictionaries is held fixed and no gradient reaches Z through X̂, so g
  // runs without a graph. The parameters stand still in here: each layer's
  // dictionary is normalized and its L verified once for the three passes
  // (sparse/dictionary_reuse.h).
  DictionaryReuse once;
  auto z = model_->encode(x);                  // (B, d)
  torch::Tensor xh;
  {
    torch::NoGradGuard no_grad;
    xh = model_->decode(z.detach(), true);     // (B, C, S, S)
  }
  auto zh = model_->encode(xh);                // (B, d)
  return objective(z, zh, y);
}

ClosedLoopTerms ClosedLoopGame::descent_objective(const torch::Tensor& x,
                                                  const torch::Tensor& y) {
  // Strategy 2 differentiates every use of the shared dictionaries (encoder
  // on X and on X̂, decoder); Strategy 1 only the decoder's, so Z = f(X) is a
  // constant and the encoder on X̂ passes gradients to X̂ alone.
  const bool strategy1 = options_.strategy() == 1;
  DictionaryReuse once;  // as in ascent_objective
  torch::Tensor z;
  if (strategy1 || model_->shared_parameters().empty()) {
    torch::NoGradGuard no_grad;
    z = model_->encode(x, true);
  } else {
    z = model_->encode(x);
  }
  auto xh = model_->decode(z);
  auto zh = model_->encode(xh, strategy1);
  auto t = objective(z, zh, y);
  if (options_.pixel_weight() > 0) {
    // This rank's rows' share of the global batch's mean: summed over the
    // ranks by the gradient sync it is the global mean (shards are equal to
    // within a row).
    t.pixel_mse = (xh - x).pow(2).mean();
    t.objective = t.objective + options_.pixel_weight() * t.pixel_mse / world().size();
  }
  return t;
}

nlohmann::json ClosedLoopGame::step(const torch::Tensor& x, const torch::Tensor& y) {
  nlohmann::json m;
  for (int64_t k = 0; k < options_.encoder_steps(); ++k) {
    opt_enc_->zero_grad();
    auto t = ascent_objective(x, y);
    sync_enc_->begin();
    (-t.objective).backward();                 // maximize T
    sync_enc_->finish();
    opt_enc_->step();
    if (k + 1 == options_.encoder_steps()) m.update(terms_json(t, "enc_"));
  }
  opt_enc_->zero_grad();
  opt_dec_->zero_grad();
  auto t = descent_objective(x, y);
  sync_dec_->begin();
  t.objective.backward();                      // minimize T
  sync_dec_->finish();
  opt_dec_->step();
  opt_enc_->zero_grad();  // gradients the descent left on encoder-only parameters are dropped
  m.update(terms_json(t, ""));
  return m;
}

}  // namespace sparseloop
