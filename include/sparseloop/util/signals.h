// SIGINT/SIGTERM handling for training (docs/cli.md §4.8): the first signal asks the
// trainer to stop at the next step boundary, write a checkpoint and exit with
// 128 + signal (130/143); a second one exits at once.
#pragma once

namespace sparseloop {

/// Installs the handlers (idempotent).
void install_stop_handlers();
/// 0 when no stop was requested, else the signal number.
int stop_signal();
/// For tests: clears a pending request.
void reset_stop_signal();

/// Thrown by trainers after checkpointing when a stop was requested; the CLI
/// exits with code() (130 or 143).
class StopRequested {
 public:
  explicit StopRequested(int signal) : signal_(signal) {}
  int code() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace sparseloop
