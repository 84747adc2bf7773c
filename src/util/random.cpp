#include "sparseloop/util/random.h"

#include <numeric>
#include <random>

#include <ATen/CPUGeneratorImpl.h>

namespace sparseloop {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t mix_seed(uint64_t a, uint64_t b) { return splitmix64(splitmix64(a) ^ b); }

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  TORCH_CHECK(n >= 0, "seeded_permutation: n must be >= 0, got ", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  std::mt19937_64 rng(seed);
  for (int64_t i = n - 1; i >= 1; --i) {
    // Uniform in [0, bound) without modulo bias: reject the lowest
    // (2^64 mod bound) raw values.
    const uint64_t bound = static_cast<uint64_t>(i) + 1;
    const uint64_t threshold = (0 - bound) % bound;
    uint64_t r = rng();
    while (r < threshold) r = rng();
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(r % bound)]);
  }
  return p;
}

torch::Generator make_generator(uint64_t seed, uint64_t stream, uint64_t counter) {
  return at::detail::createCPUGenerator(mix_seed(mix_seed(seed, stream), counter));
}

}  // namespace sparseloop
