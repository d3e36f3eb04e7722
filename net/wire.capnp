@0xc85a684cc1eabefe;
# Ember's distribution protocol: every frame two nodes exchange.
#
# A frame on the TCP stream is an 8-byte header (little-endian u32 byte length of the
# Cap'n Proto message that follows, then a u32 of flags that must be 0 for now) and one
# Cap'n Proto message in the standard unpacked encoding whose root is a Frame.
#
# Evolution: new Frame kinds are appended to the union and new fields to the end of a
# struct, always with the next ordinal. An older node reads an unknown Frame kind as a
# discriminant it does not know, logs it and skips the frame; fields it does not know it
# never looks at. Never renumber, retype or remove anything here.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("ember::wire");

# A node incarnation: a restarted node comes back with a new creation, so the pids of its
# previous life never reach its new processes.
struct NodeId {
  name @0 :Text;          # "name@host" or "name@host:port"
  creation @1 :UInt32;
}

struct Pid {
  node @0 :NodeId;
  id @1 :UInt64;          # slot and generation on that node (Ember's 45 low bits)
}

struct Ref {
  node @0 :NodeId;
  id @1 :UInt64;
}

# Erlang's data model. Maps are sent with keys in term order, without duplicates; a
# receiver sorts and de-duplicates anything else it is given.
struct Term {
  union {
    atom @0 :Text;
    int @1 :Int64;
    float @2 :Float64;    # finite only
    binary @3 :Data;
    pid @4 :Pid;
    ref @5 :Ref;
    tuple @6 :List(Term);
    list @7 :List(Term);  # proper lists; [] is an empty list
    map @8 :List(MapEntry);
  }
}

struct MapEntry {
  key @0 :Term;
  value @1 :Term;
}

# --- process signals: each travels on the one connection between the two nodes, so per
# --- ordered pair of processes they arrive in the order sent.

struct Send {             # a message to a pid
  from @0 :Pid;
  to @1 :Pid;
  message @2 :Term;
}

struct LocalSend {        # a message from a process of the sending node to one of the receiving
  fromId @0 :UInt64;      # node's current incarnations: the two pids without their node names,
  toId @1 :UInt64;        # which the connection already knows (Pid.id of each)
  message @2 :Term;
}

struct LocalSends {       # LocalSends of one sender, in the order sent, under one frame: a
  fromId @0 :UInt64;      # stream pays the frame's set-up once per batch, not per message
  toIds @1 :List(UInt64); # (Pid.id of each target; as many as messages)
  messages @2 :List(Term);
}

struct RegSend {          # a message to a locally registered name on the receiving node
  from @0 :Pid;
  toName @1 :Text;
  message @2 :Term;
}

struct Link {             # link and unlink
  from @0 :Pid;
  to @1 :Pid;
  unlinkId @2 :UInt64;    # unlink only: pairs an unlink with its acknowledgement (OTP 23+)
}

struct Exit {
  from @0 :Pid;
  to @1 :Pid;
  reason @2 :Term;
  kind @3 :ExitKind;
}

enum ExitKind {
  linked @0;              # the sender died and was linked to the target
  explicit @1;            # exit(Pid, Reason) called by the sender
}

struct Monitor {          # monitor and demonitor
  from @0 :Pid;           # the watcher
  to :union {
    pid @1 :Pid;
    name @2 :Text;        # monitor of a registered name on the receiving node
  }
  ref @3 :Ref;
}

struct Down {
  from @0 :Pid;           # the process that went down
  to @1 :Pid;             # the watcher
  ref @2 :Ref;
  reason @3 :Term;
}

struct SpawnRequest {     # Erlang's spawn/4: run the function registered under `function`
  requestId @0 :UInt64;
  from @1 :Pid;           # the requesting process; the reply and link/monitor go to it
  function @2 :Text;
  args @3 :Term;
  link @4 :Bool;
  monitor @5 :Bool;
  monitorRef @6 :Ref;
}

struct SpawnReply {
  requestId @0 :UInt64;
  to @1 :Pid;
  union {
    pid @2 :Pid;
    error @3 :Term;       # e.g. badfun, system_limit
  }
}

# --- connection set-up: Hello both ways, then a mutual HMAC-SHA256 challenge over the
# --- shared cookie. Nothing else is accepted before ChallengeAck.

struct Hello {
  version @0 :UInt32;     # protocol version: kProtocolVersion (net/handshake.hpp)
  node @1 :NodeId;
  flags @2 :UInt64;       # capability bits, so features can be negotiated later
  hidden @3 :Bool;        # tools join hidden: not meshed, not in nodes()
  listenAddress @4 :Text; # where others may reach this node ("" for hidden nodes)
}

struct Challenge {
  nonce @0 :Data;         # 32 random bytes
}

struct ChallengeReply {
  digest @0 :Data;        # HMAC-SHA256(cookie, peer's nonce)
  nonce @1 :Data;         # this side's own challenge
}

struct ChallengeAck {
  digest @0 :Data;        # HMAC-SHA256(cookie, the nonce of the ChallengeReply)
}

struct Tick {}            # keeps an idle connection alive

struct Peers {            # the nodes a node is connected to, for the mesh to close
  nodes @0 :List(PeerAddress);
}

struct PeerAddress {
  node @0 :NodeId;
  address @1 :Text;       # host:port
}

# --- global registry (Erlang's `global`): one name, one pid across connected nodes.
# Every change to a name is decided by one node, the name's arbiter (rendezvous hash of
# the name over the connected nodes), which commits it to every peer and answers once
# all have acknowledged. See node/src/global_service.cpp.

struct GlobalRequest {    # to the arbiter
  requestId @0 :UInt64;   # answered by a GlobalReply with the same id; 0: no answer wanted
  from @1 :Pid;           # who waits for the answer
  name @2 :Text;
  pid @3 :Pid;
  op @4 :GlobalOp;
}

enum GlobalOp {
  register @0;            # the name for `pid` if it is free (or already `pid`'s)
  unregister @1;          # the name, whoever holds it
  ownerDown @2;           # the name, if `pid` still holds it (its owner died)
}

struct GlobalReply {      # from the arbiter, once every peer has the change
  requestId @0 :UInt64;
  to @1 :Pid;
  yes @2 :Bool;
}

struct GlobalRegister {   # a commit: `name` is `pid`'s
  name @0 :Text;
  pid @1 :Pid;
  version @2 :UInt64;     # Lamport clock of the change, so a late frame loses to a newer one
  commitId @3 :UInt64;    # acknowledged with a GlobalAck; 0: no acknowledgement wanted
}

struct GlobalUnregister { # a commit: `name` is no longer `pid`'s
  name @0 :Text;
  pid @1 :Pid;
  version @2 :UInt64;
  commitId @3 :UInt64;
  ownerDown @4 :Bool;     # `pid` died: the receiver drops all its names and remembers it dead
}

struct GlobalAck {
  commitId @0 :UInt64;
}

struct GlobalEntry {
  name @0 :Text;
  pid @1 :Pid;
  version @2 :UInt64;
}

struct GlobalSync {       # the whole table, sent both ways when a connection comes up
  entries @0 :List(GlobalEntry);
  deadOwners @1 :List(Pid);  # owners that died lately: the receiver drops their names first
}

# --- process groups (Erlang's pg): each node announces its own processes' memberships.

struct PgMembers {        # join or leave: these local pids, once each (repeats count)
  scope @0 :Text;
  group @1 :Term;
  pids @2 :List(Pid);
}

struct PgSync {           # every membership of the sender's processes, on connect
  groups @0 :List(PgMembers);
}

# A piece of a large frame, so a big message does not hold up small ones behind it.
struct Fragment {
  sequence @0 :UInt64;    # identifies the frame being sent in pieces on this connection
  index @1 :UInt32;
  count @2 :UInt32;
  bytes @3 :Data;         # the next piece of the whole frame's Cap'n Proto message
}

struct Frame {
  union {
    send @0 :Send;
    regSend @1 :RegSend;
    link @2 :Link;
    unlink @3 :Link;
    exit @4 :Exit;
    monitor @5 :Monitor;
    demonitor @6 :Monitor;
    down @7 :Down;
    spawnRequest @8 :SpawnRequest;
    spawnReply @9 :SpawnReply;
    hello @10 :Hello;
    challenge @11 :Challenge;
    challengeReply @12 :ChallengeReply;
    challengeAck @13 :ChallengeAck;
    tick @14 :Tick;
    peers @15 :Peers;
    globalRegister @16 :GlobalRegister;
    globalUnregister @17 :GlobalUnregister;
    globalSync @18 :GlobalSync;
    globalRequest @19 :GlobalRequest;
    fragment @20 :Fragment;
    unlinkAck @21 :Link;
    globalReply @22 :GlobalReply;
    globalAck @23 :GlobalAck;
    pgJoin @24 :PgMembers;
    pgLeave @25 :PgMembers;
    pgSync @26 :PgSync;
    localSend @27 :LocalSend;
    localSends @28 :LocalSends;
  }
}
