#include "signal_frames.hpp"

#include "ember/net/term_codec.hpp"

namespace ember::detail {

void encode_signal(net::FrameEncoder& encoder, std::vector<std::byte>& out, const Signal& s) {
  using net::write_pid;
  using net::write_ref;
  using net::write_term;
  encoder.encode(out, [&](wire::Frame::Builder f) {
    switch (s.kind) {
      case SignalKind::kMessage: {
        auto b = f.initSend();
        write_pid(b.initFrom(), s.from);
        write_pid(b.initTo(), s.to);
        write_term(b.initMessage(), s.payload);
        break;
      }
      case SignalKind::kLink:
      case SignalKind::kUnlink: {
        auto b = s.kind == SignalKind::kLink ? f.initLink() : f.initUnlink();
        write_pid(b.initFrom(), s.from);
        write_pid(b.initTo(), s.to);
        break;
      }
      case SignalKind::kExit: {
        auto b = f.initExit();
        write_pid(b.initFrom(), s.from);
        write_pid(b.initTo(), s.to);
        write_term(b.initReason(), s.payload);
        b.setKind(s.linked ? wire::ExitKind::LINKED : wire::ExitKind::EXPLICIT);
        break;
      }
      case SignalKind::kMonitor:
      case SignalKind::kDemonitor: {
        auto b = s.kind == SignalKind::kMonitor ? f.initMonitor() : f.initDemonitor();
        write_pid(b.initFrom(), s.from);
        write_pid(b.getTo().initPid(), s.to);
        write_ref(b.initRef(), s.ref);
        break;
      }
      case SignalKind::kDown: {
        auto b = f.initDown();
        write_pid(b.initFrom(), s.from);
        write_pid(b.initTo(), s.to);
        write_ref(b.initRef(), s.ref);
        write_term(b.initReason(), s.payload);
        break;
      }
      case SignalKind::kTimeout:
      case SignalKind::kTrace:
        f.initTick();  // never routed: timeouts and tracing are local
        break;
    }
  });
}

void encode_local_send(net::FrameEncoder& encoder, std::vector<std::byte>& out, const Signal& s) {
  encoder.encode_local_send(out, net::pid_id(s.from), net::pid_id(s.to), s.payload);
}

void encode_name_monitor(net::FrameEncoder& encoder, std::vector<std::byte>& out, Pid watcher,
                         Atom name, Ref ref, bool on) {
  encoder.encode(out, [&](wire::Frame::Builder f) {
    auto b = on ? f.initMonitor() : f.initDemonitor();
    net::write_pid(b.initFrom(), watcher);
    std::string_view text = name.text();
    b.getTo().setName(capnp::Text::Reader(text.data(), text.size()));
    net::write_ref(b.initRef(), ref);
  });
}

InboundSignal decode_local_send(wire::LocalSend::Reader in, std::uint32_t peer,
                                std::uint32_t self) {
  return {SignalKind::kMessage,
          net::pid_on(peer, in.getFromId()),
          net::pid_on(self, in.getToId()),
          {},
          net::read_term(in.getMessage())};
}

bool decode_signal(wire::Frame::Reader f, InboundSignal& out) {
  using net::read_pid;
  using net::read_ref;
  using net::read_term;
  switch (f.which()) {
    case wire::Frame::SEND: {
      auto b = f.getSend();
      out = {SignalKind::kMessage,
             read_pid(b.getFrom()),
             read_pid(b.getTo()),
             {},
             read_term(b.getMessage())};
      return true;
    }
    case wire::Frame::LINK:
    case wire::Frame::UNLINK: {
      auto b = f.isLink() ? f.getLink() : f.getUnlink();
      out = {f.isLink() ? SignalKind::kLink : SignalKind::kUnlink, read_pid(b.getFrom()),
             read_pid(b.getTo())};
      return true;
    }
    case wire::Frame::EXIT: {
      auto b = f.getExit();
      out = {SignalKind::kExit,        read_pid(b.getFrom()),
             read_pid(b.getTo()),      {},
             read_term(b.getReason()), b.getKind() == wire::ExitKind::LINKED};
      return true;
    }
    case wire::Frame::MONITOR:
    case wire::Frame::DEMONITOR: {
      auto b = f.isMonitor() ? f.getMonitor() : f.getDemonitor();
      if (!b.getTo().isPid()) return false;  // by name: the node handles it
      out = {f.isMonitor() ? SignalKind::kMonitor : SignalKind::kDemonitor, read_pid(b.getFrom()),
             read_pid(b.getTo().getPid()), read_ref(b.getRef())};
      return true;
    }
    case wire::Frame::DOWN: {
      auto b = f.getDown();
      out = {SignalKind::kDown, read_pid(b.getFrom()), read_pid(b.getTo()), read_ref(b.getRef()),
             read_term(b.getReason())};
      return true;
    }
    default:
      return false;
  }
}

}  // namespace ember::detail
