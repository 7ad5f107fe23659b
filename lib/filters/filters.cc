// GCC 12 reports false -Wmaybe-uninitialized warnings inside libstdc++'s <regex> (std::function
// moves in _NFA::_M_insert_*) when it optimises with sanitizers on. They concern the standard
// headers, which is why the pragma comes before every include of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "lib/filters/filters.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <regex>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "lib/filters/scanner.h"

namespace berth::filters {

struct CompiledRegex {
  std::regex re;
};

namespace {

using internal::kRuneEof;
using internal::kRuneIllegal;
using internal::Scanner;
using internal::Token;
using internal::TokenKind;

// ECMAScript syntax; with libstdc++ also its polynomial-time engine (breadth-first, no
// backtracking, no recursion per input byte), which refuses back-references.
constexpr std::regex_constants::syntax_option_type kRegexFlags =
    std::regex_constants::ECMAScript | std::regex_constants::nosubs
#if defined(__GLIBCXX__)
    | std::regex_constants::__polynomial
#endif
    ;

// How much of the input a parse error shows on each side of the position.
constexpr std::size_t kContextBytes = 64;

// Renders bytes for an error message: valid printable UTF-8 as is, everything else \xNN.
std::string EscapeForMessage(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    std::size_t width = 0;
    const std::int32_t r = internal::DecodeRune(s, &width);
    if (r == kRuneIllegal || r < 0x20 || r == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[0]));
      s.remove_prefix(1);
      continue;
    }
    out.append(s.substr(0, width));
    s.remove_prefix(width);
  }
  return out;
}

// containerd's error rendering, `[before >|x|< after]`, cut to kContextBytes on each side.
std::string Context(std::string_view input, std::size_t pos) {
  if (pos >= input.size()) {
    if (input.size() <= 2 * kContextBytes) return "[" + EscapeForMessage(input) + "]";
    return "[..." + EscapeForMessage(input.substr(input.size() - 2 * kContextBytes)) + "]";
  }
  std::size_t width = 0;
  internal::DecodeRune(input.substr(pos), &width);
  width = std::max<std::size_t>(width, 1);
  const std::size_t before_start = pos > kContextBytes ? pos - kContextBytes : 0;
  const std::string_view before = input.substr(before_start, pos - before_start);
  const std::string_view location = input.substr(pos, width);
  const std::string_view after = input.substr(pos + width, kContextBytes);
  const bool cut_after = pos + width + after.size() < input.size();
  return fmt::format("[{}{} >|{}|< {}{}]", before_start > 0 ? "..." : "", EscapeForMessage(before),
                     EscapeForMessage(location), EscapeForMessage(after), cut_after ? "..." : "");
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Go's strconv.Unquote as containerd modified it: `"`, `/` and `|` delimit strings with Go
// escapes. Returns nullopt on a syntax error.
std::optional<std::string> UnquoteLiteral(std::string_view s) {
  const std::size_t n = s.size();
  if (n < 2 || s[0] != s[n - 1]) return std::nullopt;
  const char quote = s[0];
  if (quote != '"' && quote != '/' && quote != '|') return std::nullopt;
  s = s.substr(1, n - 2);
  if (s.find('\n') != std::string_view::npos) return std::nullopt;
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const char c = s[0];
    if (c == quote) return std::nullopt;
    if (c != '\\') {
      out += c;
      s.remove_prefix(1);
      continue;
    }
    if (s.size() < 2) return std::nullopt;
    const char e = s[1];
    s.remove_prefix(2);
    switch (e) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
      case 'u':
      case 'U': {
        const std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (s.size() < digits) return std::nullopt;
        std::int64_t v = 0;
        for (std::size_t j = 0; j < digits; ++j) {
          const int x = HexVal(s[j]);
          if (x < 0) return std::nullopt;
          v = (v << 4) | x;
        }
        s.remove_prefix(digits);
        if (e == 'x') {
          out += static_cast<char>(v);  // A single byte, possibly not UTF-8.
        } else {
          if (v > 0x10ffff) return std::nullopt;
          internal::AppendRune(static_cast<std::int32_t>(v), &out);
        }
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        int v = e - '0';
        if (s.size() < 2) return std::nullopt;
        for (int j = 0; j < 2; ++j) {
          const int x = s[j] - '0';
          if (x < 0 || x > 7) return std::nullopt;
          v = (v << 3) | x;
        }
        s.remove_prefix(2);
        if (v > 255) return std::nullopt;
        out += static_cast<char>(v);
        break;
      }
      case '\\':
        out += '\\';
        break;
      case '\'':
      case '"':
      case '|':
      case '/':
        if (e != quote) return std::nullopt;
        out += e;
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

// An upper-bound estimate of the size of the automaton a pattern compiles to: counted
// repetitions multiply the size of what they repeat, nesting included. Saturates at
// kSaturate. Malformed patterns get some estimate; std::regex refuses them afterwards.
// Numbers std::regex would read as integers (a count in braces, a back-reference `\N`) of
// more than kMaxDigits digits saturate, well formed or not: GCC 12's libstdc++ multiplies
// them up without an overflow check (undefined behaviour, found by fuzz/filters_fuzzer).
std::uint64_t EstimateRegexCost(std::string_view p) {
  constexpr std::uint64_t kSaturate = 1ull << 40;
  constexpr std::size_t kMaxDigits = 9;
  auto is_digit = [&](std::size_t j) { return j < p.size() && p[j] >= '0' && p[j] <= '9'; };
  struct Frame {
    std::uint64_t total = 0;
    std::uint64_t last = 0;  // Size of the last atom, what a quantifier applies to.
  };
  std::vector<Frame> stack(1);
  auto add_atom = [&](std::uint64_t size) {
    Frame& f = stack.back();
    f.total = std::min(kSaturate, f.total + size);
    f.last = size;
  };
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    switch (c) {
      case '\\': {
        std::size_t j = i + 1;
        while (is_digit(j)) ++j;
        if (j - (i + 1) > kMaxDigits) return kSaturate;
        ++i;
        add_atom(1);
        break;
      }
      case '[': {
        std::size_t j = i + 1;
        if (j < p.size() && p[j] == '^') ++j;
        if (j < p.size() && p[j] == ']') ++j;
        while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
        i = j;
        add_atom(1);
        break;
      }
      case '(':
        stack.emplace_back();
        break;
      case ')':
        if (stack.size() > 1) {
          const std::uint64_t size = stack.back().total + 2;
          stack.pop_back();
          add_atom(size);
        } else {
          add_atom(1);
        }
        break;
      case '|':
        stack.back().total = std::min(kSaturate, stack.back().total + 1);
        stack.back().last = 0;
        break;
      case '*':
      case '+':
      case '?':
        stack.back().total = std::min(kSaturate, stack.back().total + 2);
        break;
      case '{': {
        std::uint64_t bound = 0;
        std::size_t j = i + 1;
        bool digits = false;
        while (j < p.size() && ((p[j] >= '0' && p[j] <= '9') || p[j] == ',')) {
          if (p[j] != ',') {
            std::uint64_t part = 0;
            const std::size_t start = j;
            while (j < p.size() && p[j] >= '0' && p[j] <= '9') {
              part = std::min(kSaturate, part * 10 + static_cast<std::uint64_t>(p[j] - '0'));
              ++j;
              digits = true;
            }
            if (j - start > kMaxDigits) return kSaturate;
            bound = std::max(bound, part);
          } else {
            ++j;
          }
        }
        if (digits && j < p.size() && p[j] == '}') {
          Frame& f = stack.back();
          const std::uint64_t repeated = std::min(kSaturate, f.last * (bound + 1));
          f.total = std::min(kSaturate, f.total - f.last + repeated);
          f.last = repeated;
          i = j;
        } else {
          add_atom(1);
        }
        break;
      }
      default:
        add_atom(1);
    }
  }
  std::uint64_t total = 0;
  for (const Frame& f : stack) total = std::min(kSaturate, total + f.total);
  return total;
}

class Parser {
 public:
  explicit Parser(std::string_view input) : input_(input), scanner_(input) {}

  // selectors := selector ("," selector)*
  absl::StatusOr<std::vector<Selector>> ParseSelectors() {
    std::vector<Selector> out;
    for (;;) {
      absl::StatusOr<Selector> selector = ParseSelector();
      if (!selector.ok()) return selector.status();
      out.push_back(*std::move(selector));
      const std::int32_t next = scanner_.Peek();
      if (next == kRuneEof) return out;
      if (next == ',') {
        scanner_.Scan();
        continue;
      }
      if (next == kRuneIllegal) return Error(scanner_.offset(), scanner_.error());
      return Error(scanner_.offset(), "unexpected input");
    }
  }

 private:
  absl::Status Error(std::size_t pos, std::string_view reason) const {
    return absl::InvalidArgumentError(
        fmt::format("filters: {} at position {}: {}", reason, pos, Context(input_, pos)));
  }

  // selector := fieldpath [operator value]
  absl::StatusOr<Selector> ParseSelector() {
    Selector selector;
    absl::Status s = ParseFieldpath(&selector.fieldpath);
    if (!s.ok()) return s;
    const std::int32_t next = scanner_.Peek();
    if (next == ',' || next == kRuneEof) return selector;

    const Token op = scanner_.Scan();
    if (op.kind == TokenKind::kIllegal) return Error(op.pos, scanner_.error());
    if (op.kind != TokenKind::kOperator) {
      return Error(op.pos, R"(expected an operator ("=="|"!="|"~="))");
    }
    if (op.text == "==") {
      selector.op = Operator::kEqual;
    } else if (op.text == "!=") {
      selector.op = Operator::kNotEqual;
    } else if (op.text == "~=") {
      selector.op = Operator::kMatches;
    } else {
      return Error(op.pos, fmt::format("unsupported operator \"{}\"", op.text));
    }

    const Token value = scanner_.Scan();
    switch (value.kind) {
      case TokenKind::kValue:
      case TokenKind::kField:
        selector.value = std::string(value.text);
        break;
      case TokenKind::kQuoted: {
        absl::StatusOr<std::string> unquoted =
            Unquote(value.pos, value.text, selector.op == Operator::kMatches);
        if (!unquoted.ok()) return unquoted.status();
        selector.value = *std::move(unquoted);
        break;
      }
      case TokenKind::kIllegal:
        return Error(value.pos, scanner_.error());
      default:
        return Error(value.pos, "expected value or quoted");
    }
    if (selector.op == Operator::kMatches) {
      absl::StatusOr<std::shared_ptr<const CompiledRegex>> re = Compile(value.pos, selector.value);
      if (!re.ok()) return re.status();
      selector.regex = *std::move(re);
    }
    return selector;
  }

  // fieldpath := field ("." field)*
  absl::Status ParseFieldpath(std::vector<std::string>* out) {
    for (;;) {
      const Token tok = scanner_.Scan();
      switch (tok.kind) {
        case TokenKind::kField:
          out->emplace_back(tok.text);
          break;
        case TokenKind::kQuoted: {
          absl::StatusOr<std::string> unquoted = Unquote(tok.pos, tok.text, false);
          if (!unquoted.ok()) return unquoted.status();
          out->push_back(*std::move(unquoted));
          break;
        }
        case TokenKind::kIllegal:
          return Error(tok.pos, scanner_.error());
        default:
          return Error(tok.pos, "expected field or quoted");
      }
      if (scanner_.Peek() != '.') return absl::OkStatus();
      scanner_.Scan();
    }
  }

  absl::StatusOr<std::string> Unquote(std::size_t pos, std::string_view text,
                                      bool allow_alt_quotes) const {
    if (!allow_alt_quotes && text[0] != '"') return Error(pos, "invalid quote encountered");
    std::optional<std::string> out = UnquoteLiteral(text);
    if (!out) return Error(pos, "unquoting failed: quote syntax error");
    return *std::move(out);
  }

  absl::StatusOr<std::shared_ptr<const CompiledRegex>> Compile(std::size_t pos,
                                                               const std::string& pattern) const {
    if (pattern.size() > kMaxRegexLength) {
      return Error(pos, fmt::format("regular expression too long ({} bytes, at most {})",
                                    pattern.size(), kMaxRegexLength));
    }
    if (EstimateRegexCost(pattern) > kMaxRegexCost) {
      return Error(pos, "regular expression too complex");
    }
    try {
      // Compiled alone first: that validates the pattern and guarantees its parentheses are
      // balanced, so the wrapping below cannot change its meaning.
      std::regex validated(pattern, kRegexFlags);
      (void)validated;
      // A search (Go's MatchString) as one full match: `[\s\S]*(?:P)[\s\S]*`. The engine
      // then makes a single pass over the subject instead of one pass per start position,
      // O(len(subject) * size(P)). Anchors keep their meaning: ^ and $ are positions.
      auto compiled = std::make_shared<CompiledRegex>();
      compiled->re = std::regex("[\\s\\S]*(?:" + pattern + ")[\\s\\S]*", kRegexFlags);
      return std::shared_ptr<const CompiledRegex>(std::move(compiled));
    } catch (const std::exception& e) {
      return Error(pos, fmt::format("invalid regular expression: {}", e.what()));
    }
  }

  std::string_view input_;
  Scanner scanner_;
};

// One filter string: its clause, empty for "".
absl::StatusOr<std::vector<Selector>> ParseClause(std::string_view input) {
  if (input.empty()) return std::vector<Selector>();
  return Parser(input).ParseSelectors();
}

std::string Join(const std::vector<std::string>& parts, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < parts.size(); ++i) {
    if (i > from) out += '.';
    out += parts[i];
  }
  return out;
}

}  // namespace

std::optional<std::string> MapAdaptor::Field(const std::vector<std::string>& path) const {
  if (path.empty()) return std::nullopt;
  if (path[0] == "labels") {
    if (path.size() < 2) return std::nullopt;
    auto it = labels_.find(Join(path, 1));
    if (it == labels_.end()) return std::nullopt;
    return it->second;
  }
  auto it = fields_.find(Join(path, 0));
  if (it == fields_.end()) return std::nullopt;
  return it->second;
}

bool Selector::Match(const Adaptor& adaptor) const {
  const std::optional<std::string> field = adaptor.Field(fieldpath);
  switch (op) {
    case Operator::kPresent:
      return field.has_value();
    case Operator::kEqual:
      return field.has_value() && *field == value;
    case Operator::kNotEqual:
      return field.value_or("") != value;
    case Operator::kMatches: {
      if (regex == nullptr) return false;
      const std::string subject = field.value_or("");
      if (subject.size() > kMaxRegexSubject) return false;
      try {
        return std::regex_match(subject, regex->re);
      } catch (const std::exception&) {
        return false;  // Resource limits inside std::regex: treat as no match.
      }
    }
  }
  return false;
}

bool Filter::Match(const Adaptor& adaptor) const {
  if (clauses_.empty()) return true;
  for (const std::vector<Selector>& clause : clauses_) {
    if (std::all_of(clause.begin(), clause.end(),
                    [&](const Selector& s) { return s.Match(adaptor); })) {
      return true;
    }
  }
  return false;
}

bool Filter::MatchesEverything() const {
  return clauses_.empty() ||
         std::any_of(clauses_.begin(), clauses_.end(), [](const auto& c) { return c.empty(); });
}

absl::StatusOr<Filter> Parse(std::string_view input) {
  absl::StatusOr<std::vector<Selector>> clause = ParseClause(input);
  if (!clause.ok()) return clause.status();
  Filter filter;
  if (!clause->empty()) filter.clauses_.push_back(*std::move(clause));
  return filter;
}

absl::StatusOr<Filter> ParseAll(const std::vector<std::string>& inputs) {
  Filter filter;
  for (const std::string& input : inputs) {
    absl::StatusOr<std::vector<Selector>> clause = ParseClause(input);
    if (!clause.ok()) return clause.status();
    filter.clauses_.push_back(*std::move(clause));
  }
  return filter;
}

}  // namespace berth::filters
