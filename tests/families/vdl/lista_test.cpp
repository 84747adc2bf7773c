#include "sparseloop/families/vdl/lista.h"

#include <gtest/gtest.h>

using namespace sparseloop;

TEST(ListaEncoder, ForwardIsThreeReluRefinements) {
  torch::manual_seed(0);
  ListaEncoder enc(ListaEncoderOptions(12, 5));
  EXPECT_EQ(enc->U->bias.abs().max().item<double>(), 0.0);  // bias starts at 0
  EXPECT_FALSE(enc->S->bias.defined());
  {
    torch::NoGradGuard g;
    enc->U->bias.uniform_(-0.3, 0.3);
  }
  auto y = torch::randn({4, 1, 3, 4});
  auto z = enc->forward(y);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{4, 5}));
  // Independent computation: u = Uy + b, z = relu(u), 3 × z = relu(u + Sz).
  auto U = enc->U->weight.detach(), b = enc->U->bias.detach(), S = enc->S->weight.detach();
  auto u = y.reshape({4, 12}).matmul(U.t()) + b;
  auto expected = torch::relu(u);
  for (int k = 0; k < 3; ++k) expected = torch::relu(u + expected.matmul(S.t()));
  EXPECT_TRUE(torch::allclose(z, expected, 1e-5, 1e-6));
  EXPECT_GE(z.min().item<double>(), 0.0);
}

TEST(ListaEncoder, RejectsWrongInputSize) {
  ListaEncoder enc(ListaEncoderOptions(12, 5));
  EXPECT_THROW(enc->forward(torch::randn({2, 13})), c10::Error);
}
