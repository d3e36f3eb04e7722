// Helpers shared by the benchmark programs: timing, a compiler barrier, allocation counts.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ember::bench {

// EMBER_BENCH_CORK=0: the dist workloads' nodes write each frame as it is sent
// (NodeConfig::cork_process_sends = false), to compare with the default.
inline bool bench_cork() {
  const char* v = std::getenv("EMBER_BENCH_CORK");
  return !(v && std::strcmp(v, "0") == 0);
}

template <class T>
inline void keep(T&& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

// Runs `body(n)` `reps` times and returns ns per iteration for each rep.
template <class F>
std::vector<double> measure(int reps, long n, F&& body) {
  std::vector<double> out;
  for (int r = 0; r < reps; ++r) {
    auto start = std::chrono::steady_clock::now();
    body(n);
    auto ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    out.push_back(ns / double(n));
  }
  return out;
}

// Prints "# name: reps=N min=.. median=.. max=.. unit" then "name: min unit".
inline void report(const char* name, std::vector<double> v, const char* unit) {
  std::sort(v.begin(), v.end());
  std::printf("# %s: reps=%zu min=%.3f median=%.3f max=%.3f %s\n", name, v.size(), v.front(),
              v[v.size() / 2], v.back(), unit);
  std::printf("%s: %.1f %s\n", name, v.front(), unit);
}

}  // namespace ember::bench
