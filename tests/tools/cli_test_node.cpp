// A test-only node for the ember CLI's tests, a stand-in for ember-node with the same
// services: `cli_test_node NAME COOKIE [JOIN...]` starts a Node (NAME may end in :0 for a
// free port), prints "cli_test_node ready FULL-NAME" and runs until SIGTERM or SIGINT.
//   registered: echo, counter, status_collector (examples/seed.cpp)
//   remote functions: echo (an echo loop), sleeper (waits for stop or {exit, Reason})
#include <csignal>
#include <cstdio>
#include <string>

#include "ember/node/node.hpp"
#include "seed.hpp"

using namespace ember;

namespace {

Proc sleeper(Self self) {
  auto m = co_await self.receive(match("stop"_a), "{exit, _}"_p);
  if (m.clause() == 1) self.exit(m[1]);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: cli_test_node NAME COOKIE [JOIN...]\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts: all inherit it

  register_remote_function("echo", [](Self self, Term) { return examples::echo_loop(self); });
  register_remote_function("sleeper", [](Self self, Term) { return sleeper(self); });
  NodeConfig config;
  config.name = argv[1];
  config.cookie = argv[2];
  config.schedulers = 2;
  for (int i = 3; i < argc; ++i) config.join.emplace_back(argv[i]);
  Node node(config);
  Runtime& rt = node.runtime();
  rt.register_name("echo"_a, rt.spawn(examples::echo_loop));
  rt.register_name("counter"_a, rt.spawn([](Self self) { return examples::counter(self, 0); }));
  rt.register_name("status_collector"_a, rt.spawn(examples::status_collector));
  std::printf("cli_test_node ready %s\n", std::string(node.name().text()).c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
