// StartResult: what starting a process the OTP way answers ({ok, Pid}, {error, Reason} or
// ignore): gen_server::start, a supervisor child's start function, supervisor::start_link.
#pragma once

#include <utility>

#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember {

class StartResult {
 public:
  static StartResult ok(Pid pid) { return StartResult(Kind::kOk, pid, Term()); }
  static StartResult error(Term reason) {
    return StartResult(Kind::kError, Pid(), std::move(reason));
  }
  static StartResult ignore() { return StartResult(Kind::kIgnore, Pid(), Term()); }

  bool ok() const { return kind_ == Kind::kOk; }
  bool ignored() const { return kind_ == Kind::kIgnore; }
  explicit operator bool() const { return ok(); }
  Pid pid() const { return pid_; }                // the null pid unless ok()
  const Term& reason() const { return reason_; }  // the error's reason; [] otherwise
  // {ok, Pid}, {error, Reason} or ignore.
  Term term() const;

 private:
  enum class Kind { kOk, kError, kIgnore };
  StartResult(Kind k, Pid p, Term r) : kind_(k), pid_(p), reason_(std::move(r)) {}
  Kind kind_;
  Pid pid_;
  Term reason_;
};

}  // namespace ember
