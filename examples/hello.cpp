// The README's example, kept compiling: spawn an echo process, call it, watch it stop.
#include <cstdio>

#include <ember/core/runtime.hpp>
#include <ember/core/term_text.hpp>
using namespace ember;

Proc echo(Self self) {
  for (;;) {
    auto m = co_await self.receive("{echo, _, _}"_p, match("stop"_a));
    if (m.is("stop"_a)) co_return;
    self.send(m.pid(2), tuple("ok"_a, m[1]));
  }
}

int main() {
  Runtime rt;
  rt.run([](Self self) -> Proc {
    Pid e = self.spawn(echo);
    Ref r = self.monitor(e);
    self.send(e, tuple("echo"_a, "hello", self.pid()));
    auto reply = co_await self.receive("{ok, _}"_p).after(std::chrono::seconds(5));
    std::printf("reply: %s\n", reply.timed_out() ? "timeout" : print_term(reply.term()).c_str());
    self.send(e, "stop"_a);
    auto down = co_await self.receive(match(tuple(Atom("DOWN"), r, _, _, _)));
    std::printf("echo ended: %s\n", print_term(down[4]).c_str());
  });
}
