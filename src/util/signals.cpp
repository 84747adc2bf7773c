#include "sparseloop/util/signals.h"

#include <atomic>
#include <csignal>
#include <unistd.h>

namespace sparseloop {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  if (g_signal.load() != 0) _exit(128 + sig);  // second signal: leave now
  g_signal.store(sig);
  static const char msg[] = "\nstopping after this step: writing a checkpoint (signal again to abort)\n";
  ssize_t ignored = ::write(2, msg, sizeof(msg) - 1);
  (void)ignored;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return g_signal.load(); }

void reset_stop_signal() { g_signal.store(0); }

}  // namespace sparseloop
