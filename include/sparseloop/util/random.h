// Named random streams: every random draw of a run comes from a generator
// seeded by (seed, stream, counter), so augmentation, noise and data order
// are reproducible across --resume and independent of each other and of the
// global generator.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

/// A CPU generator seeded from (seed, stream, counter), for augmentation
/// and noise that must be reproducible across resume.
torch::Generator make_generator(uint64_t seed, uint64_t stream, uint64_t counter = 0);

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijective
/// 64-bit mixer, used to derive independent seeds from (seed, stream, …).
uint64_t splitmix64(uint64_t x);
/// Mixes two words into one seed (order matters).
uint64_t mix_seed(uint64_t a, uint64_t b);

/// A permutation of 0 … n−1 that is the same on every platform and LibTorch
/// version: Fisher–Yates driven by std::mt19937_64(seed) (whose output the
/// C++ standard fixes), for i = n−1 down to 1 swap p[i] with p[j], j uniform
/// in [0, i] by rejection sampling on the raw 64-bit output (no
/// std::uniform_int_distribution, whose algorithm differs between libraries).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

}  // namespace sparseloop
