// The authors' names of SDNet/ResNet tensors (families/sdnet/interop.h), on
// names taken from github Delay-Xili/SDNet's modules (docs/sdnet-authors-code.md).
#include <gtest/gtest.h>

#include "sparseloop/families/sdnet/interop.h"

using namespace sparseloop;

TEST(SdnetInterop, MapsOurNamesToTheAuthorsModules) {
  EXPECT_EQ(sdnet_authors_name("sdnet18", "stem_conv.weight"), "layer0.0.dn.weight");
  EXPECT_EQ(sdnet_authors_name("resnet18", "stem_conv.weight"), "layer0.0.weight");
  EXPECT_EQ(sdnet_authors_name("sdnet34", "stem_bn.running_var"), "layer0.1.running_var");
  EXPECT_EQ(sdnet_authors_name("sdnet18-all", "stem_down.weight"), "layer0.2.dn.weight");
  EXPECT_EQ(sdnet_authors_name("sdnet18", "layer2.0.conv1.weight"), "layer2.0.conv1.weight");
  EXPECT_EQ(sdnet_authors_name("sdnet18-all", "layer2.0.conv1.weight"),
            "layer2.layers.0.conv1.dn.weight");
  EXPECT_EQ(sdnet_authors_name("sdnet34-all", "layer3.5.bn2.num_batches_tracked"),
            "layer3.layers.5.bn2.num_batches_tracked");
  EXPECT_EQ(sdnet_authors_name("resnet34", "layer4.0.shortcut.1.bias"), "layer4.0.shortcut.1.bias");
  EXPECT_EQ(sdnet_authors_name("sdnet18-all", "layer4.0.shortcut.0.weight"),
            "layer4.layers.0.shortcut.0.weight");
  EXPECT_EQ(sdnet_authors_name("sdnet18", "fc.weight"), "linear.weight");
  // The power-iteration caches are ours alone.
  EXPECT_EQ(sdnet_authors_name("sdnet18", "stem_conv.power_vector"), "");
  EXPECT_EQ(sdnet_authors_name("sdnet18-all", "layer1.0.conv2.lipschitz_dictionary"), "");
}

TEST(SdnetInterop, DerivesTheAuthorsStepSizeFromOurLipschitzConstant) {
  TensorFile ours;
  ours.tensors = {{"stem_conv.weight", torch::ones({4, 3, 3, 3})},
                  {"stem_conv.lipschitz", torch::tensor(4.5, torch::kDouble)},
                  {"layer1.0.conv1.lipschitz", torch::tensor(0.0, torch::kDouble)}};
  const auto d = sdnet_derived_tensors("sdnet18-all", ours);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].first, "layer0.0.dn.step_size");
  EXPECT_FLOAT_EQ(d[0].second.item<float>(), 0.2f);  // 0.9 / 4.5
  EXPECT_EQ(d[1].first, "layer1.layers.0.conv1.dn.step_size");
  EXPECT_FLOAT_EQ(d[1].second.item<float>(), 0.1f);  // L unknown: the authors' initial step
}
