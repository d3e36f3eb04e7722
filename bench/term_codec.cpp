// term_codec: encode and decode cost of a small message and of a 1 KiB binary payload,
// bytes on the wire, and heap allocations per message.
//   build/bench/term_codec            prints `name: value unit` lines
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <capnp/message.h>

#include "bench_util.hpp"
#include "ember/core/term.hpp"
#include "ember/net/frame_decoder.hpp"
#include "ember/net/frame_encoder.hpp"
#include "ember/net/term_codec.hpp"

// Every heap allocation in this program is counted: malloc itself is interposed, so both
// operator new and the Term heaps (which call malloc) show up.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
static std::atomic<long> g_allocs{0};
extern "C" void* malloc(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}

using namespace ember;
using namespace ember::net;

namespace {

constexpr int kReps = 5;
constexpr long kIters = 500000;

struct Workload {
  const char* name;
  Term message;
};

// The term alone, as a Cap'n Proto message: what term_to_binary / binary_to_term do.
void run_term_only(const Workload& w, const std::string& prefix) {
  std::unique_ptr<capnp::word[]> scratch(new capnp::word[1024]());
  std::vector<std::byte> out;
  out.reserve(4096);
  auto encode = [&] {
    capnp::MallocMessageBuilder message(kj::ArrayPtr<capnp::word>(scratch.get(), 1024));
    write_term(message.initRoot<wire::Term>(), w.message);
    auto words = message.getSegmentsForOutput()[0];
    out.resize(words.size() * sizeof(capnp::word));
    std::memcpy(out.data(), words.begin(), out.size());
  };
  auto enc = bench::measure(kReps, kIters, [&](long n) {
    for (long i = 0; i < n; ++i) {
      encode();
      bench::keep(out.data());
    }
  });
  bench::report((prefix + "_encode").c_str(), enc, "ns");
  encode();
  std::vector<capnp::word> words(out.size() / sizeof(capnp::word));
  std::memcpy(words.data(), out.data(), out.size());
  auto dec = bench::measure(kReps, kIters, [&](long n) {
    for (long i = 0; i < n; ++i) {
      // A single-segment message without its segment table: read in place.
      kj::ArrayPtr<const capnp::word> segment(words.data(), words.size());
      capnp::SegmentArrayMessageReader reader(kj::arrayPtr(&segment, 1));
      Term t = read_term(reader.getRoot<wire::Term>());
      bench::keep(t.word());
    }
  });
  bench::report((prefix + "_decode").c_str(), dec, "ns");
  std::printf("%s_bytes: %zu bytes\n", prefix.c_str(), out.size());
}

void run(const Workload& w) {
  run_term_only(w, std::string("term_codec_") + w.name);
  std::string prefix = std::string("term_codec_") + w.name + "_send_frame";
  Pid from(0, 1, 1), to(0, 2, 1);
  FrameEncoder encoder;
  std::vector<std::byte> out;
  out.reserve(4096);

  auto enc = bench::measure(kReps, kIters, [&](long n) {
    for (long i = 0; i < n; ++i) {
      out.clear();
      encoder.encode_send(out, from, to, w.message);
      bench::keep(out.data());
    }
  });
  bench::report((prefix + "_encode").c_str(), enc, "ns");

  out.clear();
  std::size_t frame_bytes = encoder.encode_send(out, from, to, w.message);
  std::vector<std::byte> frame = out;
  FrameDecoder decoder;
  auto dec = bench::measure(kReps, kIters, [&](long n) {
    for (long i = 0; i < n; ++i) {
      decoder.feed(frame);
      auto words = decoder.next();
      FrameReader reader(*words);
      Term t = read_term(reader.root().getSend().getMessage());
      bench::keep(t.word());
    }
  });
  bench::report((prefix + "_decode").c_str(), dec, "ns");

  std::printf("%s_bytes: %zu bytes\n", prefix.c_str(), frame_bytes);
  std::printf("%s_payload_heap_bytes: %zu bytes\n", prefix.c_str(), w.message.heap_bytes());

  constexpr long kCount = 10000;
  long before = g_allocs.load();
  for (long i = 0; i < kCount; ++i) {
    out.clear();
    encoder.encode_send(out, from, to, w.message);
  }
  std::printf("%s_allocs_per_encode: %.2f allocs\n", prefix.c_str(),
              double(g_allocs.load() - before) / kCount);
  before = g_allocs.load();
  for (long i = 0; i < kCount; ++i) {
    decoder.feed(frame);
    auto words = decoder.next();
    FrameReader reader(*words);
    Term t = read_term(reader.root().getSend().getMessage());
    bench::keep(t.word());
  }
  std::printf("%s_allocs_per_decode: %.2f allocs\n", prefix.c_str(),
              double(g_allocs.load() - before) / kCount);
}

std::vector<double> per_message(std::vector<double> v, std::size_t batch) {
  for (double& x : v) x /= double(batch);
  return v;
}

// A stream's batch: one LocalSends frame of 32 messages, per message, as the transport lays
// it out (SegmentWriter) and as Cap'n Proto's builder would (the encoder before it).
void run_local_sends(const Workload& w) {
  std::string prefix = std::string("term_codec_") + w.name + "_local_sends";
  constexpr std::size_t kBatch = 32;
  std::vector<std::uint64_t> to(kBatch, 7);
  std::vector<Term> messages(kBatch, w.message);
  FrameEncoder encoder(16u << 10);
  std::vector<std::byte> out;
  out.reserve(64u << 10);
  auto laid = bench::measure(kReps, kIters / kBatch, [&](long n) {
    for (long i = 0; i < n; ++i) {
      out.clear();
      encoder.encode_local_sends(out, 3, to, messages);
      bench::keep(out.data());
    }
  });
  bench::report((prefix + "_encode").c_str(), per_message(laid, kBatch), "ns");
  auto built = bench::measure(kReps, kIters / kBatch, [&](long n) {
    for (long i = 0; i < n; ++i) {
      out.clear();
      encoder.encode(out, [&](wire::Frame::Builder f) {
        auto sends = f.initLocalSends();
        sends.setFromId(3);
        auto ids = sends.initToIds(kBatch);
        for (unsigned k = 0; k < kBatch; ++k) ids.set(k, to[k]);
        auto terms = sends.initMessages(kBatch);
        for (unsigned k = 0; k < kBatch; ++k) write_term(terms[k], messages[k]);
      });
      bench::keep(out.data());
    }
  });
  bench::report((prefix + "_capnp_builder_encode").c_str(), per_message(built, kBatch), "ns");
}

}  // namespace

int main() {
  auto build = bench::measure(kReps, kIters * 4, [](long n) {
    for (long i = 0; i < n; ++i) {
      Term t = tuple("seq"_a, 12345 + i);
      bench::keep(t.word());
    }
  });
  bench::report("term_build_small", build, "ns");
  // A stream's 1 KiB message around one payload: the payload is referenced (binaries over
  // 64 bytes), not copied.
  Term payload(std::string(1024, 'x'));
  auto build_1k = bench::measure(kReps, kIters * 4, [&](long n) {
    for (long i = 0; i < n; ++i) {
      Term t = tuple("seq"_a, 12345 + i, payload);
      bench::keep(t.word());
    }
  });
  bench::report("term_build_1KiB", build_1k, "ns");
  run({"small", tuple("seq"_a, 12345)});
  run({"1KiB", tuple("data"_a, std::string(1024, 'x'))});
  run_local_sends({"small", tuple("seq"_a, 12345)});
  run_local_sends({"1KiB", tuple("seq"_a, 12345, std::string(1024, 'x'))});
  return 0;
}
