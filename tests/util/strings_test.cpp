// util/strings.h: the empty prefix and suffix, whole-string matches, and
// patterns longer than the text (which must not read past it).
#include <gtest/gtest.h>

#include "sparseloop/util/strings.h"

using sparseloop::ends_with;
using sparseloop::starts_with;

TEST(Strings, StartsWith) {
  EXPECT_TRUE(starts_with("layer1.0.dn.weight", "layer"));
  EXPECT_TRUE(starts_with("abc", ""));
  EXPECT_TRUE(starts_with("abc", "abc"));
  EXPECT_FALSE(starts_with("abc", "abcd"));
  EXPECT_FALSE(starts_with("abc", "b"));
  EXPECT_FALSE(starts_with("", "a"));
}

TEST(Strings, EndsWith) {
  EXPECT_TRUE(ends_with("sdnet18-all", "-all"));
  EXPECT_TRUE(ends_with("abc", ""));
  EXPECT_TRUE(ends_with("abc", "abc"));
  EXPECT_FALSE(ends_with("bc", "abc"));
  EXPECT_FALSE(ends_with("abc", "b"));
  EXPECT_FALSE(ends_with("", "a"));
}
