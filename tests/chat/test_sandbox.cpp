// The sandbox: hostile templates fail with a TemplateError instead of hanging, exhausting memory or the stack,
// or reaching anything beyond the values they were given.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "hearth/chat.h"

namespace hearth::chat {
namespace {

TemplateOptions small_limits() {
  TemplateOptions options;
  options.limits.max_loop_iterations = 10'000;
  options.limits.max_output_bytes = 100'000;
  options.limits.max_call_depth = 50;
  options.limits.max_nesting_depth = 100;
  return options;
}

// Renders and returns the TemplateError's message ("" when the render succeeded).
std::string failure_of(const std::string& source, const TemplateOptions& options = small_limits(),
                       const json& context = json::object()) {
  try {
    Template(source, options).render(context);
  } catch (const TemplateError& e) {
    return e.message();
  }
  return "";
}

TEST(Sandbox, LoopIterationsAreBounded) {
  EXPECT_EQ(failure_of("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"),
            "the template exceeded its limit of 10000 loop iterations");
  EXPECT_EQ(failure_of("{{ range(10001)|list|length }}"),
            "range() of 10001 items exceeds the template's limit of 10000 loop iterations");
  // Macro calls count too: exponential recursion stops early.
  EXPECT_EQ(failure_of("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"),
            "the template exceeded its limit of 10000 loop iterations");
  EXPECT_EQ(failure_of("{{ range(5000)|list|join|length }}"), "");
}

TEST(Sandbox, OutputAndStringSizesAreBounded) {
  EXPECT_EQ(failure_of("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}"),
            "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{{ 'x' * 1000000000000 }}"), "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{% set ns = namespace(s='xy') %}{% for i in range(64) %}{% set ns.s = ns.s.replace('x', ns.s) %}{% endfor %}"),
            "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{{ ''.center(1000000000) }}"), "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{{ 'x'|indent(1000000000) }}"), "the template exceeded its output limit of 100000 bytes");
  EXPECT_EQ(failure_of("{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}"),
            "the list exceeds the template's size limit");
  EXPECT_EQ(failure_of("{{ [0] * 100000000000 }}"), "sequence repetition exceeds the template's size limit");
}

// Work on large strings is bounded in total, not only per operation: a loop that keeps measuring, searching or
// comparing a big string stops once the bytes it has taken in exceed the budget, in well under a second (the
// issue's template ran for hours as a model's chat template).
TEST(Sandbox, StringWorkIsBoundedInTotal) {
  TemplateOptions options;  // the default limits, as `hearth chat` renders a model's template
  options.limits.max_output_bytes = 32u << 20;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(failure_of("{% set s = 'x' * 16000000 %}{% for i in range(999999) %}{% if s|length > 0 %}{% endif %}"
                       "{% endfor %}", options),
            "the template exceeded its work limit of 4294967296 bytes of string data processed (does a loop keep "
            "scanning a large string?)");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 60.0);  // sanitizers too
  // Methods, tests and comparisons count too.
  TemplateOptions small = small_limits();
  small.limits.max_work_bytes = 1'000'000;
  const std::string big = "{% set s = 'ab' * 50000 %}";
  for (const std::string loop : {"{% if s.find('z') %}{% endif %}", "{% if s is string %}{% endif %}",
                                 "{% if s == s %}{% endif %}", "{% if 'z' in s %}{% endif %}",
                                 "{{ (s ~ '')|length }}"}) {
    EXPECT_NE(failure_of(big + "{% for i in range(100) %}" + loop + "{% endfor %}", small).find("work limit"),
              std::string::npos) << loop;
  }
  // Ordinary templates stay far inside the budget.
  EXPECT_EQ(failure_of(big + "{% for i in range(4) %}{% if s|length > 0 %}{% endif %}{% endfor %}", small), "");
}

TEST(Sandbox, RecursionIsBounded) {
  EXPECT_EQ(failure_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
            "maximum recursion depth exceeded while calling a Python object");
  EXPECT_EQ(failure_of("{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}"),
            "maximum recursion depth exceeded while calling a Python object");
  EXPECT_EQ(failure_of("{% macro f() %}{% call f() %}{% endcall %}{{ caller() }}{% endmacro %}{% call f() %}{% endcall %}"),
            "maximum recursion depth exceeded while calling a Python object");
}

TEST(Sandbox, DeepNestingInTheSourceFailsCleanly) {
  const auto nested = [](const std::string& open, const std::string& middle, const std::string& close, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += open;
    s += middle;
    for (int i = 0; i < n; ++i) s += close;
    return s;
  };
  EXPECT_EQ(failure_of("{{ " + nested("(", "1", ")", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ " + nested("[", "1", "]", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ " + nested("not ", "1", "", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ " + nested("-", "1", "", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of(nested("{% if true %}", "x", "{% endif %}", 100000)), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ 1" + nested("|string", "", "", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ 1" + nested(" + 1", "", "", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ x" + nested(".a", "", "", 100000) + " }}"), "template nesting is too deep");
  EXPECT_EQ(failure_of("{{ 1" + nested(" ~ 1", "", "", 50000) + " }}"), "");  // long, but flat
  EXPECT_EQ(failure_of("{{ 1" + nested(" + 1", "", "", 300) + " }}"), "");
}

TEST(Sandbox, DeepValuesFailCleanlyAndFreeWithoutRecursion) {
  TemplateOptions options = small_limits();
  options.limits.max_loop_iterations = 1'000'000;
  // A list nested 200000 deep: printing it is refused, and freeing it must not overflow the stack.
  const std::string build = "{% set ns = namespace(x=[]) %}{% for i in range(200000) %}{% set ns.x = [ns.x] %}{% endfor %}";
  EXPECT_EQ(failure_of(build + "{{ ns.x|length }}", options), "");
  EXPECT_EQ(failure_of(build + "{{ ns.x }}", options),
            "maximum recursion depth exceeded while getting the repr of an object");
  EXPECT_EQ(failure_of(build + "{{ ns.x|tojson }}", options),
            "maximum recursion depth exceeded while encoding a JSON object");
  json deep = json::array();
  for (int i = 0; i < 100000; ++i) deep = json::array({std::move(deep)});
  json context = json::object();
  context["messages"] = std::move(deep);  // moved: nlohmann copies recursively
  EXPECT_EQ(failure_of("{{ messages|length }}", options, context), "JSON input is nested too deeply");
}

TEST(Sandbox, SelfReferencesPrintLikePython) {
  EXPECT_EQ(Template("{% set l = [1] %}{% set _ = l.append(l) %}{{ l }}").render(json::object()), "[1, [...]]");
  EXPECT_EQ(Template("{% set d = {} %}{% set _ = d.update(me=d) %}{{ d }}").render(json::object()), "{'me': {...}}");
  EXPECT_EQ(Template("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}").render(json::object()),
            "<Namespace {'me': <Namespace {...}>}>");
  EXPECT_EQ(failure_of("{% set a = [] %}{% set b = [] %}{% set _ = a.append(a) %}{% set _ = b.append(b) %}{{ a == b }}"),
            "maximum recursion depth exceeded in comparison");
}

TEST(Sandbox, ReferenceCyclesAreCutWhenTheRenderEnds) {
  // Under the sanitizer build, LeakSanitizer reports whatever these leave behind.
  for (const char* source : {
           "{% set ns = namespace() %}{% set ns.me = ns %}",
           "{% set l = [] %}{% set _ = l.append(l) %}{% set _ = l.insert(0, [l]) %}{% set _ = l.extend([l]) %}",
           "{% set d = {} %}{% set _ = d.update(me=d) %}{% set _ = d.setdefault('x', d) %}",
           "{% macro m() %}{% endmacro %}{% set ns = namespace(m=m) %}",
           "{% for x in [1] %}{% macro m() %}{{ x }}{% endmacro %}{% set _ = m() %}{% endfor %}",
           "{% for x in [1, 2] %}{% if loop.changed(loop) %}{% endif %}{% endfor %}",
           "{% set ns = namespace() %}{% set c = cycler(ns) %}{% set ns.next = c.next %}",
           "{% set l = [] %}{% set f = l.append %}{% set _ = f(f) %}",
           "{% set ns = namespace() %}{% set ns.j = joiner(ns) %}",
           "{% macro w() %}{{ caller() }}{% endmacro %}{% set ns = namespace() %}"
           "{% call w() %}{% set ns.c = caller %}{% endcall %}",
       }) {
    EXPECT_EQ(failure_of(source), "") << source;
  }
}

TEST(Sandbox, NoPythonInternals) {
  // Attribute names starting with an underscore are never resolved: printing gives "", using them fails.
  EXPECT_EQ(Template("[{{ ''.__class__ }}][{{ x.__dict__ }}][{{ x._private }}]").render({{"x", {{"_private", 1}}}}),
            "[][][]");
  EXPECT_EQ(failure_of("{{ ''.__class__.__mro__ }}"), "access to attribute '__class__' of 'str' object is unsafe.");
  EXPECT_EQ(failure_of("{{ range.__globals__.os }}"),
            "access to attribute '__globals__' of 'builtin_function_or_method' object is unsafe.");
  EXPECT_EQ(failure_of("{{ cycler.__init__.__globals__ }}"),
            "access to attribute '__init__' of 'builtin_function_or_method' object is unsafe.");
  EXPECT_EQ(failure_of("{{ ''['__class__'].x }}"), "'str object' has no attribute '__class__'");
}

TEST(Sandbox, NoOtherTemplatesOrFiles) {
  for (const char* source : {"{% include '/etc/passwd' %}", "{% import 'x.jinja' as x %}", "{% from 'x' import y %}",
                             "{% extends 'base.jinja' %}", "{% block b %}{% endblock %}"}) {
    const std::string message = failure_of(source);
    EXPECT_NE(message.find("is not supported: chat templates are rendered on their own"), std::string::npos)
        << source << ": " << message;
  }
  EXPECT_EQ(failure_of("{{ open('/etc/passwd') }}"), "'open' is undefined");
}

TEST(Sandbox, BreakOutsideALoopIsASyntaxError) {
  EXPECT_EQ(failure_of("{% break %}"), "'break' outside loop");
  EXPECT_EQ(failure_of("{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}"),
            "'continue' outside loop");
  EXPECT_EQ(failure_of("{% for x in [1] %}{% else %}{% break %}{% endfor %}"), "'break' outside loop");
}

TEST(Sandbox, DefaultLimitsStopRunawayTemplatesQuickly) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(failure_of("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", TemplateOptions{}),
            "the template exceeded its limit of 1000000 loop iterations");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0);
}

}  // namespace
}  // namespace hearth::chat
