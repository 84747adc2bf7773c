#include "sparseloop/plot/ticks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace sparseloop;

namespace {

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]) << i;
}

}  // namespace

TEST(Ticks, NiceTicksFollowTheOneTwoFiveRule) {
  expect_ticks(nice_ticks(0, 0.93), {0, 0.2, 0.4, 0.6, 0.8});
  expect_ticks(nice_ticks(0, 1), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(nice_ticks(0, 100), {0, 20, 40, 60, 80, 100});
  expect_ticks(nice_ticks(-1, 1, 5), {-1, -0.5, 0, 0.5, 1});
  expect_ticks(nice_ticks(17.2, 18.7, 4), {17.5, 18, 18.5});
  expect_ticks(nice_ticks(0.93, 0), {0, 0.2, 0.4, 0.6, 0.8});  // reversed bounds
  expect_ticks(nice_ticks(5, 5), {5});
  EXPECT_TRUE(nice_ticks(0, NAN).empty());
  EXPECT_TRUE(nice_ticks(-INFINITY, 1).empty());
  // Decimal steps come out as their literals (no 0.30000000000000004).
  const auto t = nice_ticks(0, 0.35, 4);
  EXPECT_EQ(t[3], 0.3);
}

TEST(Ticks, NiceTicksStayInsideWithOneEvenStepOnAnyRange) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> exponent(-6, 6), unit(-1, 1);
  for (int trial = 0; trial < 500; ++trial) {
    const double scale = std::pow(10.0, exponent(rng));
    double lo = unit(rng) * scale, hi = lo + std::abs(unit(rng)) * scale + 1e-12 * scale;
    const auto t = nice_ticks(lo, hi, 6);
    ASSERT_GE(t.size(), 2u) << lo << " " << hi;
    EXPECT_LE(t.size(), 12u);
    const double step = t[1] - t[0];
    const double m = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    EXPECT_TRUE(std::abs(m - 1) < 1e-6 || std::abs(m - 2) < 1e-6 || std::abs(m - 5) < 1e-6)
        << "step " << step;
    for (size_t i = 0; i < t.size(); ++i) {
      EXPECT_GE(t[i], lo - 1e-9 * scale);
      EXPECT_LE(t[i], hi + 1e-9 * scale);
      if (i > 0) {
        EXPECT_NEAR(t[i] - t[i - 1], step, 1e-9 * step);
      }
    }
  }
}

TEST(Ticks, LogTicksAreDecades) {
  expect_ticks(log_ticks(1e-3, 10), {1e-3, 1e-2, 1e-1, 1, 10});
  expect_ticks(log_ticks(0.5, 2000), {1, 10, 100, 1000});
  // Many decades: every k-th, always including 10⁰.
  const auto wide = log_ticks(1e-12, 1e12, 8);
  EXPECT_LE(wide.size(), 9u);
  EXPECT_NE(std::find(wide.begin(), wide.end(), 1.0), wide.end());
  // Less than two decades inside: 1-2-5 multiples.
  expect_ticks(log_ticks(2, 30), {2, 5, 10, 20});
  EXPECT_GE(log_ticks(1.1, 1.9).size(), 2u);  // falls back to linear ticks
  EXPECT_TRUE(log_ticks(0, 10).empty());
  EXPECT_TRUE(log_ticks(-1, 10).empty());
  const auto minor = log_minor_ticks(1, 100);
  EXPECT_EQ(minor.size(), 16u);
  EXPECT_DOUBLE_EQ(minor.front(), 2);
  EXPECT_DOUBLE_EQ(minor.back(), 90);
  EXPECT_TRUE(log_minor_ticks(1e-10, 1e10).empty());
}

TEST(Ticks, LabelsShareOneFormat) {
  EXPECT_EQ(format_ticks({0, 0.2, 0.4}), (std::vector<std::string>{"0.0", "0.2", "0.4"}));
  EXPECT_EQ(format_ticks({0, 50, 100}), (std::vector<std::string>{"0", "50", "100"}));
  EXPECT_EQ(format_ticks({-0.5, 0, 0.5}), (std::vector<std::string>{"\u22120.5", "0.0", "0.5"}));
  EXPECT_EQ(format_ticks({0, 2e6, 4e6}),
            (std::vector<std::string>{"0", "2\u00D710\u2076", "4\u00D710\u2076"}));
  EXPECT_EQ(format_ticks({1e-5, 2e-5}),
            (std::vector<std::string>{"10\u207B\u2075", "2\u00D710\u207B\u2075"}));
  EXPECT_EQ(format_ticks({0.001, 0.002}), (std::vector<std::string>{"0.001", "0.002"}));
  EXPECT_EQ(format_log_ticks({1e-3, 1, 100}),
            (std::vector<std::string>{"10\u207B\u00B3", "10\u2070", "10\u00B2"}));
  EXPECT_EQ(format_log_ticks({2, 5, 10}), (std::vector<std::string>{"2", "5", "10"}));
  EXPECT_EQ(superscript(-12), "\u207B\u00B9\u00B2");
  EXPECT_TRUE(format_ticks({}).empty());
}
