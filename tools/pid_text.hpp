// Node names, pids and targets as users type them, and terms printed so they read back.
//
// Ember prints a pid as <N.S.G>: N is a node *index* local to the printing OS process, so
// the CLI cannot use it. The CLI prints pids as <0.S.G>@name@host:port instead (slot S,
// generation G of a process on that node) and reads that form back; a bare <N.S.G> means
// slot S, generation G on --node (N is ignored).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ember/core/atom.hpp"
#include "ember/core/pid.hpp"
#include "ember/core/term.hpp"

namespace ember::cli {

// name@host or name@host:port -> the full name@host:port (4370 when the port is left out).
// Throws CliError(kUsage) naming what is wrong.
Atom canonical_node(std::string_view text);

// A pid as typed: slot and generation, and the node (nullopt: --node).
struct PidText {
  std::uint32_t slot = 0, generation = 0;
  std::optional<Atom> node;
};
// Throws CliError(kUsage) for anything but <N.S.G> or <N.S.G>@NODE.
PidText parse_pid_text(std::string_view text);

// What send/call/kill address: a pid, a registered name on a node, or a global name.
struct Target {
  std::optional<PidText> pid;
  Atom name;                 // when !pid
  std::optional<Atom> node;  // nullopt: --node
  bool global = false;       // `name` is a global name, looked up on `node`
};
// <N.S.G>[@NODE] is a pid; name@NODE is `name` registered on NODE; a plain name is
// registered on --node; global:name[@NODE] is `name` in the global registry, as NODE (or
// --node) sees it.
Target parse_target(std::string_view text);

// <0.S.G>@name@host:port for a pid of any node this process knows.
std::string pid_text(Pid pid);
Atom pid_node(Pid pid);

// Erlang text with every pid as pid_text prints it.
std::string print_cli_term(const Term& t);

// Parses TERM text in which pids may be written <N.S.G>@NODE (or bare, for --node).
// `resolve` turns a typed pid into a Pid of this process (connecting to its node);
// a ParseError's position refers to the text as typed.
Term parse_cli_term(std::string_view text, const std::function<Pid(const PidText&)>& resolve);

}  // namespace ember::cli
