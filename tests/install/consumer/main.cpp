// One process spawns another and they exchange a message; prints the reply.
#include <ember/ember.hpp>

#include <cstdio>

using namespace ember;

int main() {
  Runtime rt;
  std::string reply;
  rt.run([&](Self self) -> Proc {
    Pid echo = self.spawn([](Self s) -> Proc {
      auto m = co_await s.receive("{ping, _, _}"_p);
      s.send(m.pid(1), tuple("pong"_a, m[2]));
    });
    self.send(echo, tuple("ping"_a, self.pid(), Term("hello")));
    auto m = co_await self.receive("{pong, _}"_p).after(std::chrono::seconds(10));
    reply = m.timed_out() ? "timeout" : m.term().to_string();
  });
  std::printf("consumer got %s\n", reply.c_str());
  return reply == "{pong,<<\"hello\">>}" ? 0 : 1;
}
