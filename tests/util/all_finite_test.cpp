#include "sparseloop/util/all_finite.h"

#include <gtest/gtest.h>

#include <limits>

using namespace sparseloop;

namespace {

// The reference: LibTorch's own isfinite, tensor by tensor.
bool reference(const std::vector<torch::Tensor>& ts) {
  for (const auto& t : ts)
    if (t.defined() && t.numel() > 0 && !torch::isfinite(t).all().item<bool>()) return false;
  return true;
}

}  // namespace

TEST(AllFinite, EqualsIsfiniteOnEveryBitPattern) {
  // Random 32- and 64-bit patterns read as floats: ~1/256 of float32 words
  // and ~1/2048 of float64 words have a saturated exponent, so tensors of a
  // few hundred elements are finite or not about evenly; denormals, ±0, the
  // largest finite values, quiet and signalling NaNs all occur.
  torch::manual_seed(0);
  int non_finite = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int64_t n = 1 + trial * 3;  // every tail length past the vector width
    auto f = torch::randint(std::numeric_limits<int32_t>::min(),
                            std::numeric_limits<int32_t>::max(), {n}, torch::kInt32)
                 .view(torch::kFloat);
    auto d = torch::randint(std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), {n}, torch::kInt64)
                 .view(torch::kDouble);
    for (const auto& t : {f, d}) {
      EXPECT_EQ(all_finite({t}), reference({t})) << t.scalar_type() << " n=" << n;
      non_finite += !reference({t});
    }
  }
  EXPECT_GT(non_finite, 100);  // both outcomes exercised
  EXPECT_LT(non_finite, 700);
}

TEST(AllFinite, FindsOneBadValueAnywhereInAnyLayout) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float big = 3.0e38f;  // finite in bfloat16 too (FLT_MAX rounds to Inf there)
  const float tiny = std::numeric_limits<float>::denorm_min();
  // 3·64·33·35 = 221 760 elements: over the parallel grain and not a
  // multiple of the vector width.
  auto base = torch::randn({3, 64, 33, 35});
  base.view(-1)[0] = big;
  base.view(-1)[1] = -big;
  base.view(-1)[2] = tiny;
  base.view(-1)[3] = -0.0f;
  EXPECT_TRUE(all_finite({torch::full({70}, std::numeric_limits<float>::max()),
                          torch::full({70}, std::numeric_limits<double>::lowest(), torch::kDouble)}));
  const auto channels_last = base.contiguous(torch::MemoryFormat::ChannelsLast);
  const auto strided = base.slice(3, 0, 35, 2);  // not dense: the fallback path
  EXPECT_TRUE(all_finite({base, channels_last, strided, base.to(torch::kDouble),
                          base.to(torch::kBFloat16), torch::Tensor(), torch::empty({0})}));
  for (const float bad : {nan, inf, -inf}) {
    for (const int64_t at : {int64_t(0), int64_t(63), int64_t(4096), int64_t(100000),
                             base.numel() - 1}) {
      for (const auto& make : {+[](const torch::Tensor& t) { return t.clone(); },
                               +[](const torch::Tensor& t) {
                                 return t.contiguous(torch::MemoryFormat::ChannelsLast);
                               },
                               +[](const torch::Tensor& t) { return t.to(torch::kDouble); },
                               +[](const torch::Tensor& t) { return t.to(torch::kBFloat16); }}) {
        auto t = base.clone();
        t.view(-1)[at] = bad;
        const auto u = make(t);
        // Bad value last in a list of good tensors: every tensor is read.
        EXPECT_FALSE(all_finite({base, channels_last, u})) << bad << " at " << at << " "
                                                           << u.scalar_type();
      }
    }
  }
  auto s = base.clone();
  s.index_put_({0, 0, 0, 34}, nan);  // column 34: inside the stride-2 view
  EXPECT_FALSE(all_finite({s.slice(3, 0, 35, 2)}));
  EXPECT_TRUE(all_finite({s.slice(3, 0, 34, 2)}));  // the view skips it
}
