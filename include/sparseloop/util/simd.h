// Hot hand-written loops compiled three times — AVX-512, AVX2 and the
// baseline — with the variant picked once at load time (GCC/Clang function
// multiversioning, glibc's ifunc). The project builds for baseline x86-64 so
// that one binary runs on every machine; without this its hand loops (the
// coordinate descent's axpys, the fused FISTA step) would run 2 doubles per
// instruction where the BLAS next to them runs 8 (docs/performance.md).
// Put it on a plain (non-template) function whose body is the loop; a
// template body can be inlined into it (it inherits the clone's target).
#pragma once

#if defined(__x86_64__) && defined(__linux__) && \
    (defined(__clang__) ? (__clang_major__ >= 14) : (defined(__GNUC__) && __GNUC__ >= 6))
#define SPARSELOOP_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SPARSELOOP_SIMD_CLONES
#endif

#if defined(__GNUC__)
#define SPARSELOOP_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SPARSELOOP_ALWAYS_INLINE inline
#endif

// Between these, no multiply-add contraction: the AVX-512, AVX2 and baseline
// clones of a hand loop then round alike, so a result does not depend on the
// machine's instruction set (the few-channel transposed convolutions).
#if defined(__clang__)
#define SPARSELOOP_NO_FP_CONTRACT_BEGIN _Pragma("clang fp contract(off)")
#define SPARSELOOP_NO_FP_CONTRACT_END _Pragma("clang fp contract(on)")
#elif defined(__GNUC__)
#define SPARSELOOP_NO_FP_CONTRACT_BEGIN \
  _Pragma("GCC push_options") _Pragma("GCC optimize(\"fp-contract=off\")")
#define SPARSELOOP_NO_FP_CONTRACT_END _Pragma("GCC pop_options")
#else
#define SPARSELOOP_NO_FP_CONTRACT_BEGIN
#define SPARSELOOP_NO_FP_CONTRACT_END
#endif
