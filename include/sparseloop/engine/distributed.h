// Data-parallel training on PyTorch's distributed engine, c10d: Gloo between
// CPU processes, NCCL between CUDA devices. A world is joined the way
// torchrun and SLURM scripts describe it (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT), or through a file every rank sees; `sparseloop
// train --nproc N` starts N local ranks itself (launch_local_ranks). This file
// and its .cpp are the only ones that see c10d: the layers below use the
// Communicator of util/distributed.h. docs/cli.md §4.13, docs/architecture.md.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace sparseloop {

struct DistributedOptions {
  /// gloo | nccl | auto (NCCL when the run is on CUDA, else Gloo).
  std::string backend = "auto";
  /// Seconds a collective waits for the other ranks before the run stops.
  double timeout = 300;
  /// Rendezvous: "" (the launcher's MASTER_ADDR/MASTER_PORT) or
  /// "file:///shared/path" (a FileStore on a file system every rank sees).
  std::string init;
};

/// The launcher's description of this process, read from the environment.
struct LaunchEnvironment {
  bool present = false;  ///< RANK and WORLD_SIZE are set
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  ///< the launcher hosts the store (TORCHELASTIC_USE_AGENT_STORE)
};
LaunchEnvironment launch_environment();

/// InputError naming the flag when --backend, --dist-timeout or --dist-init
/// is malformed (checked before any rank starts).
void validate(const DistributedOptions& options);

/// Joins the world the environment (or options.init) describes and installs
/// it as world() (util/distributed.h); a world of one when neither says
/// otherwise. `device` is the run's device; on CUDA, LOCAL_RANK picks the
/// GPU and the device is updated. InputError names the variable or flag of a
/// bad description; a failed rendezvous names the address and the timeout.
void join_world(const DistributedOptions& options, torch::Device& device);

/// Starts `nproc` ranks of this program on this machine (`argv`: the command
/// line after the program's name), rendezvous on 127.0.0.1, and waits. When a
/// rank fails, the others are stopped and one line names the rank, how it
/// ended and the last step each rank reported. SIGINT/SIGTERM are passed to
/// every rank. Returns the exit code (the failed rank's, or a signal's 130/143).
/// `program` runs instead of this one when given (tests' workers).
int launch_local_ranks(const std::vector<std::string>& argv, int nproc,
                       const DistributedOptions& options, const std::string& program = "");

}  // namespace sparseloop
