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
# libmimalloc-dev 2.0: the allocator for messages (core/include/ember/core/detail/message_memory.hpp).
if(NOT EMBER_SANITIZE)
  find_package(mimalloc 2 REQUIRED)
endif()
if(EMBER_TESTS)
  find_package(Catch2 2 REQUIRED)
  include(Catch)
endif()
