#include "sparseloop/plot/color.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

using namespace sparseloop;

namespace {

bool all_distinct(const std::vector<Color>& colors) {
  std::set<std::tuple<int, int, int>> seen;
  for (const Color& c : colors) seen.insert({c.r, c.g, c.b});
  return seen.size() == colors.size();
}

}  // namespace

// More series than the palette holds once reused its colors (two pairs of
// noise levels drawn alike in the SDNet robust figure).
TEST(Color, SeriesColorsAreDistinctForAnyNumberOfSeries) {
  const auto& palette = default_palette();
  for (size_t n : {0, 1, 5, 8, 9, 12, 16, 40, 200, 1000}) {
    const auto colors = series_colors(n);
    ASSERT_EQ(colors.size(), n);
    EXPECT_TRUE(all_distinct(colors)) << n << " series";
    for (size_t i = 0; i < std::min(n, palette.size()); ++i) EXPECT_EQ(colors[i], palette[i]);
  }
  // The colors past the palette stay apart from it and from each other.
  const auto twelve = series_colors(12);
  for (size_t i = palette.size(); i < twelve.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const double d = std::hypot(twelve[i].r - twelve[j].r, twelve[i].g - twelve[j].g,
                                  twelve[i].b - twelve[j].b);
      EXPECT_GE(d, 40.0) << i << " vs " << j;
    }
  // A palette with repeats still gives distinct colors.
  EXPECT_TRUE(all_distinct(series_colors(4, {colors::black, colors::black, colors::white})));
}

TEST(Color, SequentialColorsFollowTheOrder) {
  for (size_t n : {1, 2, 7, 12, 30}) {
    const auto colors = sequential_colors(n);
    ASSERT_EQ(colors.size(), n);
    EXPECT_TRUE(all_distinct(colors)) << n << " levels";
    EXPECT_EQ(colors.front(), colormap(Colormap::viridis, 0.0));
    // Viridis brightens monotonically: the order of the levels reads off it.
    for (size_t i = 1; i < n; ++i) EXPECT_GT(luminance(colors[i]), luminance(colors[i - 1])) << i;
  }
  // The pale end of the map is left out (it does not read on white).
  EXPECT_LT(luminance(sequential_colors(5).back()), luminance(colormap(Colormap::viridis, 1.0)));
}
