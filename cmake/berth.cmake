# Helpers that keep each directory's CMakeLists.txt in step with its BUILD.bazel.
#
# Target names: the directory path relative to the repository with '/' -> '_', plus
# '_<name>' unless <name> equals the directory's last component. So lib/digest's
# `digest` is `lib_digest`, lib/server's `config` is `lib_server_config`, and the test
# `digest_test` in lib/digest is `lib_digest_digest_test`. Bazel names the same targets
# `//lib/digest`, `//lib/server:config`, `//lib/digest:digest_test`.

# Compile options for berth's own targets: warnings, and sanitizers when enabled.
set(BERTH_COPTS -Wall -Wextra -Wno-unused-parameter)
if(BERTH_WERROR)
  list(APPEND BERTH_COPTS -Werror)
endif()
# BERTH_SANITIZE_FLAGS is set by the top-level CMakeLists.txt when BERTH_SANITIZE is on.
list(APPEND BERTH_COPTS ${BERTH_SANITIZE_FLAGS})
set(BERTH_WARNINGS ${BERTH_COPTS})  # older name, kept for targets defined by hand

function(berth_target_name out name)
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE "/" "_" prefix "${rel}")
  get_filename_component(base ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  if(name STREQUAL base)
    set(${out} ${prefix} PARENT_SCOPE)
  else()
    set(${out} ${prefix}_${name} PARENT_SCOPE)
  endif()
endfunction()

# berth_cc_library(<name> SRCS ... HDRS ... DEPS ...)
function(berth_cc_library name)
  cmake_parse_arguments(A "" "" "SRCS;HDRS;DEPS" ${ARGN})
  berth_target_name(target ${name})
  if(A_SRCS)
    add_library(${target} ${A_SRCS} ${A_HDRS})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${A_DEPS})
    target_compile_options(${target} PRIVATE ${BERTH_COPTS})
  else()
    add_library(${target} INTERFACE ${A_HDRS})
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${A_DEPS})
  endif()
endfunction()

# berth_cc_binary(<name> SRCS ... DEPS ...) -> build/bin/<name>
function(berth_cc_binary name)
  cmake_parse_arguments(A "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${A_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  target_compile_options(${name} PRIVATE ${BERTH_COPTS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${BERTH_BIN_DIR})
endfunction()

# berth_cc_test(<name> SRCS ... DEPS ... LABELS unit|root|integration|conformance
#               [TIMEOUT seconds])
# One CTest entry per test binary, labelled as STYLE.md says.
function(berth_cc_test name)
  cmake_parse_arguments(A "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  berth_target_name(target ${name})
  if(NOT A_LABELS)
    message(FATAL_ERROR "berth_cc_test(${name}): LABELS is required")
  endif()
  add_executable(${target} ${A_SRCS})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${target} PRIVATE ${BERTH_COPTS})
  set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${BERTH_TEST_BIN_DIR})
  add_test(NAME ${target} COMMAND ${target})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${target} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "BERTH_SOURCE_DIR=${PROJECT_SOURCE_DIR};BERTH_BIN=${BERTH_BIN_DIR}")
endfunction()
