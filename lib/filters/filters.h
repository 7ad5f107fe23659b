// containerd's filter language: the `filters` of List RPCs and Events.Subscribe.
//
//   filter    := ""                       (matches everything)
//              | selector ("," selector)*  (all selectors must match: AND)
//   selector  := fieldpath [operator value] (no operator: the field must be present)
//   fieldpath := field ("." field)*
//   field     := [A-Za-z0-9_-]+ | "double-quoted"     e.g. labels."io.example/key"
//   operator  := "==" | "!=" | "~="               (~= is a regular expression search)
//   value     := unquoted run of graphic characters other than "," and white space
//                (`name==docker.io/library/ubuntu:22.04`), or a quoted string; for "~="
//                also /regex/ or |regex| (Go escapes inside quotes)
// Several filter strings (a repeated `filters` field) are ORed; an empty list matches
// everything. The grammar and its corner cases follow containerd's filters package token for
// token (see scanner.h); an unparsable filter is InvalidArgument. Corners worth knowing, all
// as in containerd: an unquoted value ends at "," and may not start with `.`, `"`, `/` or
// `|` (write `topic=="/tasks/exit"`, `name~=/.*x/`, `name~="a{1,2}"`); no white space may
// follow the last selector; `=` alone is not an operator; inside /regex/ only Go escapes are
// legal (`/\d/` is refused, unquoted `name~=\d+` works).
//
// Matching asks an Adaptor for the value of a field path. As in containerd, a missing field
// reads as "" for "!=" and "~=" (so `labels.x!=y` matches objects without label x), and "=="
// and presence need the field to exist.
//
// Regular expressions are ECMAScript (std::regex; containerd uses Go's RE2 syntax, so a few
// patterns differ, e.g. no `(?i)`) and search the value (unanchored, like Go's
// MatchString). They are compiled once, when the filter is parsed, and run with libstdc++'s
// polynomial engine (breadth-first, no backtracking) in a single pass over the value, so
// matching costs O(len(value) * size(pattern)); back-references are refused. To bound that
// work on hostile input a pattern may be at most kMaxRegexLength bytes, its compiled size is
// estimated (counted repetitions multiply) and refused above kMaxRegexCost, and a field value
// longer than kMaxRegexSubject bytes never matches "~=" (label values are at most 4096
// bytes anyway). Ordinary patterns take microseconds; the worst a pattern within these
// limits can do is a few hundred milliseconds per value. Matching works on bytes: `.` is one
// byte, not one UTF-8 rune.
//
// Thread-safety: a Filter is immutable after parsing; Match may be called from any number of
// threads at once. Adaptors are called from the matching thread only.
#ifndef BERTH_LIB_FILTERS_FILTERS_H_
#define BERTH_LIB_FILTERS_FILTERS_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::filters {

inline constexpr std::size_t kMaxRegexLength = 1024;
inline constexpr std::size_t kMaxRegexCost = 2048;
inline constexpr std::size_t kMaxRegexSubject = 4096;

// How a filter sees an object. Implemented by each service for its record type.
class Adaptor {
 public:
  virtual ~Adaptor() = default;

  // Returns the value of the field at `path` (one element per dotted component, quotes
  // removed: `labels."a.b"` -> {"labels", "a.b"}), or nullopt when the object has no such
  // field. `path` is never empty.
  virtual std::optional<std::string> Field(const std::vector<std::string>& path) const = 0;
};

// An Adaptor over plain maps, for tests and for services whose objects are simple records.
// Field({"labels", k...}) looks up the components after "labels", joined with ".", in
// `labels` (containerd's convention: `labels.a.b` names the label "a.b"). Any other path is
// joined with "." and looked up in `fields` (so "event.container_id" can be a field). The
// maps are copied.
class MapAdaptor final : public Adaptor {
 public:
  explicit MapAdaptor(std::map<std::string, std::string> fields,
                      std::map<std::string, std::string> labels = {})
      : fields_(std::move(fields)), labels_(std::move(labels)) {}

  std::optional<std::string> Field(const std::vector<std::string>& path) const override;

 private:
  std::map<std::string, std::string> fields_;
  std::map<std::string, std::string> labels_;
};

// An Adaptor over a function, for one-off adaptors in services:
//   FuncAdaptor a([&](const auto& path) -> std::optional<std::string> { ... });
class FuncAdaptor final : public Adaptor {
 public:
  using Fn = std::function<std::optional<std::string>(const std::vector<std::string>&)>;
  explicit FuncAdaptor(Fn fn) : fn_(std::move(fn)) {}

  std::optional<std::string> Field(const std::vector<std::string>& path) const override {
    return fn_(path);
  }

 private:
  Fn fn_;
};

// A compiled regular expression (defined in filters.cc, keeps <regex> out of this header).
struct CompiledRegex;

enum class Operator {
  kPresent,   // No operator: the field exists.
  kEqual,     // ==
  kNotEqual,  // !=
  kMatches,   // ~=
};

// One `fieldpath [op value]` term.
struct Selector {
  std::vector<std::string> fieldpath;
  Operator op = Operator::kPresent;
  std::string value;                           // Unquoted; empty for kPresent.
  std::shared_ptr<const CompiledRegex> regex;  // Set for kMatches only.

  // True when the object seen through `adaptor` satisfies this term.
  bool Match(const Adaptor& adaptor) const;
};

// A parsed filter: an OR of clauses, each an AND of selectors. Cheap to copy.
class Filter {
 public:
  // The filter that matches everything (what "" and an empty list parse to).
  Filter() = default;

  // True when the object seen through `adaptor` satisfies the filter: some clause has all its
  // selectors matching (a filter without clauses and an empty clause match everything).
  bool Match(const Adaptor& adaptor) const;

  // True when Match is true for every object (no clause, or an empty clause).
  bool MatchesEverything() const;

  // The clauses, in input order (for services that turn simple filters into index lookups).
  const std::vector<std::vector<Selector>>& clauses() const { return clauses_; }

 private:
  friend absl::StatusOr<Filter> Parse(std::string_view input);
  friend absl::StatusOr<Filter> ParseAll(const std::vector<std::string>& inputs);

  std::vector<std::vector<Selector>> clauses_;
};

// Parses one filter string. "" matches everything. Errors are InvalidArgument:
//   `filters: <reason> at position <byte offset>: [<before> >|<char>|< <after>]`
// (or `...: [<input>]` when the problem is the end of input), for example
//   `filters: expected field or quoted at position 7: [labels. >|?|< "x"==y]`
//   `filters: unexpected input at position 9: [name==foo >| |< ]`
// Other reasons: `expected value or quoted`, `expected an operator ("=="|"!="|"~=")`,
// `unsupported operator "="`, `invalid quote encountered` (/ or | quoting outside ~=),
// `quoted literal not terminated`, `illegal escape sequence`, `unexpected null`,
// `invalid UTF-8`, `regular expression too long (N bytes, at most 1024)`,
// `regular expression too complex`, `invalid regular expression: <why>`.
// Long inputs are cut around the position in the message.
absl::StatusOr<Filter> Parse(std::string_view input);

// Parses several filter strings and ORs them. An empty list matches everything, and so does
// a list containing "". The first unparsable string's error is returned.
absl::StatusOr<Filter> ParseAll(const std::vector<std::string>& inputs);

}  // namespace berth::filters

#endif  // BERTH_LIB_FILTERS_FILTERS_H_
