#include "sparseloop/util/compat.h"

#include "sparseloop/util/error.h"

#ifdef SPARSELOOP_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace sparseloop {

int64_t cuda_peak_bytes() {
#ifdef SPARSELOOP_WITH_CUDA
  if (!torch::cuda::is_available()) return 0;
  // allocated_bytes[0] is StatType::AGGREGATE in every LibTorch since 1.x.
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
      static_cast<c10::DeviceIndex>(0));
  return stats.allocated_bytes[0].peak;
#else
  return 0;
#endif
}

void cuda_reset_peak_bytes() {
#ifdef SPARSELOOP_WITH_CUDA
  if (torch::cuda::is_available())
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(0));
#endif
}

void cuda_synchronize() {
  if (torch::cuda::is_available()) torch::cuda::synchronize();
}

torch::Device resolve_device(const std::string& name, const std::string& flag) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    require(torch::cuda::is_available(),
            flag + " cuda: no CUDA device is available (this build or machine is CPU-only); use " +
                flag + " cpu or auto");
    return torch::Device(torch::kCUDA, 0);
  }
  if (name == "auto" || name.empty())
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  throw InputError(flag + " '" + name + "': expected cpu, cuda or auto");
}

}  // namespace sparseloop
