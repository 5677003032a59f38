// The fuzz suite's main: doctest's own (the fuzzed parsers do not dispatch on the CPU).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
