# Every dependency comes from Debian bookworm packages; `make deps` installs them.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
# libuv1-dev 1.44 and libxxhash-dev 0.8 ship pkg-config files only, no CMake package.
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
find_package(CapnProto REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
# libcurl4-openssl-dev: the HTTP client (net/src/http_client.cpp), driven by the libuv loop.
find_package(CURL REQUIRED)
# libhttp-parser-dev (2.9): the metrics endpoint's request parser (node/src/metrics_server.cpp).
# Debian ships neither a pkg-config file nor a CMake package for it.
if(NOT TARGET HttpParser::http_parser)
  find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h)
  find_library(HTTP_PARSER_LIBRARY NAMES http_parser)
  if(NOT HTTP_PARSER_INCLUDE_DIR OR NOT HTTP_PARSER_LIBRARY)
    message(FATAL_ERROR "http_parser not found: install libhttp-parser-dev (make deps does)")
  endif()
  add_library(HttpParser::http_parser UNKNOWN IMPORTED)
  set_target_properties(HttpParser::http_parser PROPERTIES IMPORTED_LOCATION "${HTTP_PARSER_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${HTTP_PARSER_INCLUDE_DIR}")
endif()
# libmimalloc-dev 2.0: the allocator for messages (core/include/ember/core/detail/message_memory.hpp).
if(NOT EMBER_SANITIZE)
  find_package(mimalloc 2 REQUIRED)
endif()
if(EMBER_TESTS)
  find_package(Catch2 2 REQUIRED)
  include(Catch)
endif()
