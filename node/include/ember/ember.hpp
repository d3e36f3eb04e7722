// Ember in one include: the local runtime, the abstractions on it, and nodes.
#pragma once

#include "ember/core/agent.hpp"
#include "ember/core/gen_server.hpp"
#include "ember/core/runtime.hpp"
#include "ember/core/supervisor.hpp"
#include "ember/core/task.hpp"
#include "ember/core/term.hpp"
#include "ember/core/term_text.hpp"
#include "ember/node/global.hpp"
#include "ember/node/http.hpp"
#include "ember/node/node.hpp"
#include "ember/node/process_groups.hpp"
