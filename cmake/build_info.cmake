# Run in script mode (cmake -P) on every build: writes build_info.cpp from the template, but
# only touches it when something changed, so an unchanged tree does not relink.
set(GIT_COMMIT "unknown")
set(GIT_DIRTY "false")
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE commit RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(rc EQUAL 0)
    set(GIT_COMMIT "${commit}")
    # Sample reports under reports/ are outputs, not code: changing them does not make a build "modified".
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" status --porcelain --untracked-files=no -- . ":!reports"
                    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT changes STREQUAL "")
      set(GIT_DIRTY "true")
    endif()
  endif()
endif()
configure_file("${SOURCE_DIR}/cmake/build_info.cpp.in" "${OUTPUT}" @ONLY)
