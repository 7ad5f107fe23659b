#include "services/image/remotes/www_authenticate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

namespace berth::remotes {
namespace {

bool IsTchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken68Char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~' || c == '+' || c == '/';
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  absl::StatusOr<std::vector<Challenge>> Parse() {
    std::vector<Challenge> out;
    for (;;) {
      SkipSeparators();
      if (AtEnd()) break;
      Challenge ch;
      std::string_view scheme = Token();
      if (scheme.empty()) return Error(fmt::format("expected an auth scheme at offset {}", pos_));
      ch.scheme = Lower(scheme);
      std::size_t spaces = SkipSpaces();
      if (AtEnd() || Peek() == ',') {
        out.push_back(std::move(ch));
        continue;
      }
      if (spaces == 0) {
        return Error(fmt::format("unexpected character {:?} at offset {}", Peek(), pos_));
      }
      if (TryToken68(&ch.token68)) {
        out.push_back(std::move(ch));
        continue;
      }
      absl::Status st = Params(&ch);
      if (!st.ok()) return st;
      out.push_back(std::move(ch));
    }
    if (out.empty()) return Error("no challenge");
    return out;
  }

 private:
  absl::Status Error(std::string_view reason) const {
    std::string shown(s_.substr(0, 200));
    return absl::InvalidArgumentError(
        fmt::format("invalid WWW-Authenticate header {:?}: {}", shown, reason));
  }

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return s_[pos_]; }

  std::size_t SkipSpaces() {
    std::size_t start = pos_;
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t')) ++pos_;
    return pos_ - start;
  }

  void SkipSeparators() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == ',')) ++pos_;
  }

  std::string_view Token() {
    std::size_t start = pos_;
    while (!AtEnd() && IsTchar(Peek())) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  // A value without quotes. RFC 9110 wants a token, but registries in the wild send realms
  // such as https://host/token unquoted (Go's parser reads up to the next comma or space):
  // accept any visible character but quotes and commas.
  std::string_view UnquotedValue() {
    std::size_t start = pos_;
    while (!AtEnd()) {
      unsigned char c = static_cast<unsigned char>(Peek());
      if (c <= 0x20 || c == 0x7f || c == ',' || c == '"') break;
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", and it must be
  // all that the challenge carries (end of header or a comma follows).
  bool TryToken68(std::string* out) {
    std::size_t start = pos_;
    std::size_t p = pos_;
    while (p < s_.size() && IsToken68Char(s_[p])) ++p;
    if (p == start) return false;
    while (p < s_.size() && s_[p] == '=') ++p;
    // "name=value" is a parameter, not a token68 ending in "=".
    std::size_t after = p;
    while (after < s_.size() && (s_[after] == ' ' || s_[after] == '\t')) ++after;
    if (after < s_.size() && s_[after] != ',') return false;
    *out = std::string(s_.substr(start, p - start));
    pos_ = after;
    return true;
  }

  absl::Status Params(Challenge* ch) {
    for (;;) {
      std::size_t name_at = pos_;
      std::string_view name = Token();
      if (name.empty()) {
        return Error(fmt::format("expected a parameter name at offset {}", name_at));
      }
      SkipSpaces();
      if (AtEnd() || Peek() != '=') {
        return Error(fmt::format("parameter {:?} has no value", std::string(name)));
      }
      ++pos_;
      SkipSpaces();
      std::string value;
      if (!AtEnd() && Peek() == '"') {
        absl::Status st = QuotedString(&value);
        if (!st.ok()) return st;
      } else {
        std::string_view v = UnquotedValue();
        if (v.empty()) {
          return Error(fmt::format("parameter {:?} has no value", std::string(name)));
        }
        value = std::string(v);
      }
      std::string key = Lower(name);
      if (!ch->params.emplace(key, std::move(value)).second) {
        return Error(fmt::format("parameter {:?} repeated", key));
      }
      SkipSpaces();
      if (AtEnd()) return absl::OkStatus();
      if (Peek() != ',') {
        return Error(fmt::format("unexpected character {:?} at offset {}", Peek(), pos_));
      }
      SkipSeparators();
      if (AtEnd()) return absl::OkStatus();
      // Another parameter (`token =`) or the scheme of the next challenge?
      std::size_t save = pos_;
      Token();
      SkipSpaces();
      bool is_param = !AtEnd() && Peek() == '=';
      pos_ = save;
      if (!is_param) return absl::OkStatus();
    }
  }

  absl::Status QuotedString(std::string* out) {
    std::size_t start = pos_;
    ++pos_;  // opening quote
    while (!AtEnd()) {
      char c = Peek();
      ++pos_;
      if (c == '"') return absl::OkStatus();
      if (c == '\\') {
        if (AtEnd()) break;
        out->push_back(Peek());
        ++pos_;
        continue;
      }
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        return Error(fmt::format("control character in quoted string at offset {}", pos_ - 1));
      }
      out->push_back(c);
    }
    return Error(fmt::format("unterminated quoted string at offset {}", start));
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

struct ScopeParts {
  std::string type;
  std::string name;
  std::set<std::string> actions;
};

bool SplitScope(const std::string& scope, ScopeParts* out) {
  std::size_t first = scope.find(':');
  std::size_t last = scope.rfind(':');
  if (first == std::string::npos || first == last || first == 0 || last + 1 > scope.size()) {
    return false;
  }
  out->type = scope.substr(0, first);
  out->name = scope.substr(first + 1, last - first - 1);
  if (out->name.empty()) return false;
  std::string actions = scope.substr(last + 1);
  std::size_t start = 0;
  while (start <= actions.size()) {
    std::size_t comma = actions.find(',', start);
    if (comma == std::string::npos) comma = actions.size();
    std::string a = actions.substr(start, comma - start);
    if (!a.empty()) out->actions.insert(a);
    start = comma + 1;
  }
  return !out->actions.empty();
}

}  // namespace

std::string Challenge::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

absl::StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header) {
  return Parser(header).Parse();
}

std::string RepositoryScope(std::string_view path, bool push) {
  return fmt::format("repository:{}:{}", path, push ? "pull,push" : "pull");
}

std::vector<std::string> MergeScopes(const std::vector<std::string>& scopes) {
  std::map<std::pair<std::string, std::string>, std::set<std::string>> merged;
  std::set<std::string> others;
  for (const std::string& s : scopes) {
    ScopeParts parts;
    if (SplitScope(s, &parts)) {
      auto& actions = merged[{parts.type, parts.name}];
      actions.insert(parts.actions.begin(), parts.actions.end());
    } else if (!s.empty()) {
      others.insert(s);
    }
  }
  std::vector<std::string> out;
  for (const auto& [key, actions] : merged) {
    std::string joined;
    for (const std::string& a : actions) {
      if (!joined.empty()) joined += ',';
      joined += a;
    }
    out.push_back(key.first + ":" + key.second + ":" + joined);
  }
  out.insert(out.end(), others.begin(), others.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace berth::remotes
