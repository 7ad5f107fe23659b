#include "lib/filters/scanner.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace berth::filters::internal {
namespace {

struct Expected {
  Expected(std::size_t pos, TokenKind kind, std::string text, std::string err = "")
      : pos(pos), kind(kind), text(std::move(text)), err(std::move(err)) {}

  std::size_t pos;
  TokenKind kind;
  std::string text;
  std::string err;  // For kIllegal tokens.
};

std::string Describe(const Expected& e) {
  return std::to_string(e.pos) + " " + TokenKindName(e.kind) + " \"" + e.text + "\" " + e.err;
}

struct Case {
  std::string name;
  std::string input;
  std::vector<Expected> tokens;
};

constexpr auto F = TokenKind::kField;
constexpr auto O = TokenKind::kOperator;
constexpr auto V = TokenKind::kValue;
constexpr auto S = TokenKind::kSeparator;
constexpr auto Q = TokenKind::kQuoted;
constexpr auto I = TokenKind::kIllegal;
constexpr auto E = TokenKind::kEof;

// containerd's filters/scanner_test.go table, token for token (positions are bytes).
std::vector<Case> ContainerdCases() {
  return {
      {"Field", "name", {{0, F, "name"}, {4, E, ""}}},
      {"SelectorsWithOperators",
       "name==value,foo!=bar",
       {{0, F, "name"},
        {4, O, "=="},
        {6, V, "value"},
        {11, S, ","},
        {12, F, "foo"},
        {15, O, "!="},
        {17, V, "bar"},
        {20, E, ""}}},
      {"SelectorsWithFieldPaths",
       "name==value,labels.foo=value,other.bar~=match",
       {{0, F, "name"},
        {4, O, "=="},
        {6, V, "value"},
        {11, S, ","},
        {12, F, "labels"},
        {18, S, "."},
        {19, F, "foo"},
        {22, O, "="},
        {23, V, "value"},
        {28, S, ","},
        {29, F, "other"},
        {34, S, "."},
        {35, F, "bar"},
        {38, O, "~="},
        {40, V, "match"},
        {45, E, ""}}},
      {"RegexpValue",
       "name~=[abc]+,foo=test",
       {{0, F, "name"},
        {4, O, "~="},
        {6, V, "[abc]+"},
        {12, S, ","},
        {13, F, "foo"},
        {16, O, "="},
        {17, V, "test"},
        {21, E, ""}}},
      {"RegexpEscapedValue",
       R"(name~=[abc]\+,foo=test)",
       {{0, F, "name"},
        {4, O, "~="},
        {6, V, R"([abc]\+)"},
        {13, S, ","},
        {14, F, "foo"},
        {17, O, "="},
        {18, V, "test"},
        {22, E, ""}}},
      {"RegexpQuotedValue",
       "name~=/[abc]{0,2}/,foo=test",
       {{0, F, "name"},
        {4, O, "~="},
        {6, Q, "/[abc]{0,2}/"},
        {18, S, ","},
        {19, F, "foo"},
        {22, O, "="},
        {23, V, "test"},
        {27, E, ""}}},
      {"Cowsay",
       "name~=\xe7\x89\x9b,labels.moo=true",
       {{0, F, "name"},
        {4, O, "~="},
        {6, V, "\xe7\x89\x9b"},
        {9, S, ","},
        {10, F, "labels"},
        {16, S, "."},
        {17, F, "moo"},
        {20, O, "="},
        {21, V, "true"},
        {25, E, ""}}},
      {"CowsayRegexpQuoted",
       "name~=|\xe7\x89\x9b|,labels.moo=true",
       {{0, F, "name"},
        {4, O, "~="},
        {6, Q, "|\xe7\x89\x9b|"},
        {11, S, ","},
        {12, F, "labels"},
        {18, S, "."},
        {19, F, "moo"},
        {22, O, "="},
        {23, V, "true"},
        {27, E, ""}}},
      {"Escapes",
       R"(name~="asdf\n\tfooo")",
       {{0, F, "name"}, {4, O, "~="}, {6, Q, R"("asdf\n\tfooo")"}, {20, E, ""}}},
      {"NullInput",
       std::string("foo\0bar", 7),
       {{0, F, "foo"}, {3, I, "", "unexpected null"}, {4, F, "bar"}, {7, E, ""}}},
      {"SpacesChomped", "foo = bar    ", {{0, F, "foo"}, {4, O, "="}, {6, V, "bar"}, {13, E, ""}}},
      {"ValuesPunctuated",
       "compound.labels==punctuated_value.foo-bar",
       {{0, F, "compound"},
        {8, S, "."},
        {9, F, "labels"},
        {15, O, "=="},
        {17, V, "punctuated_value.foo-bar"},
        {41, E, ""}}},
      {"PartialInput", "interrupted=", {{0, F, "interrupted"}, {11, O, "="}, {12, E, ""}}},
      {"DoubleValue",
       "doublevalue=value value",
       {{0, F, "doublevalue"}, {11, O, "="}, {12, V, "value"}, {18, F, "value"}, {23, E, ""}}},
      {"LeadingWithQuoted",
       R"("leading quote".postquote==value)",
       {{0, Q, R"("leading quote")"},
        {15, S, "."},
        {16, F, "postquote"},
        {25, O, "=="},
        {27, V, "value"},
        {32, E, ""}}},
      {"MissingValue",
       "input==,id!=ff",
       {{0, F, "input"},
        {5, O, "=="},
        {7, S, ","},
        {8, F, "id"},
        {10, O, "!="},
        {12, V, "ff"},
        {14, E, ""}}},
      {"QuotedRegexp",
       R"(input~=/foo\/bar/,id!=ff)",
       {{0, F, "input"},
        {5, O, "~="},
        {7, Q, R"(/foo\/bar/)"},
        {17, S, ","},
        {18, F, "id"},
        {20, O, "!="},
        {22, V, "ff"},
        {24, E, ""}}},
      {"QuotedRegexpAlt",
       "input~=|foo/bar|,id!=ff",
       {{0, F, "input"},
        {5, O, "~="},
        {7, Q, "|foo/bar|"},
        {16, S, ","},
        {17, F, "id"},
        {19, O, "!="},
        {21, V, "ff"},
        {23, E, ""}}},
      {"IllegalQuoted",
       "labels.containerd.io/key==value",
       {{0, F, "labels"},
        {6, S, "."},
        {7, F, "containerd"},
        {17, S, "."},
        {18, F, "io"},
        {20, I, "/key==value", "quoted literal not terminated"},
        {31, E, ""}}},
      {"IllegalQuotedWithNewLine",
       "labels.\"containerd.io\nkey\"==value",
       {{0, F, "labels"},
        {6, S, "."},
        {7, I, "\"containerd.io\n", "quoted literal not terminated"},
        {22, F, "key"},
        {25, I, "\"==value", "quoted literal not terminated"},
        {33, E, ""}}},
      {"IllegalEscapeSequence",
       R"(labels."\g")",
       {{0, F, "labels"}, {6, S, "."}, {7, I, R"("\g")", "illegal escape sequence"}, {11, E, ""}}},
      {"DashAsField",
       "labels.fo-obr==bla",
       {{0, F, "labels"},
        {6, S, "."},
        {7, F, "fo-obr"},
        {13, O, "=="},
        {15, V, "bla"},
        {18, E, ""}}},
      {"IllegalNumericEscapeSequence",
       R"(labels."\xaz")",
       {{0, F, "labels"},
        {6, S, "."},
        {7, I, R"("\xaz")", "illegal numeric escape sequence"},
        {13, E, ""}}},
  };
}

// berth's additions: the value forms a reference or digest filter uses, bad bytes.
std::vector<Case> MoreCases() {
  return {
      {"ReferenceValue",
       "name==docker.io/library/ubuntu:22.04",
       {{0, F, "name"}, {4, O, "=="}, {6, V, "docker.io/library/ubuntu:22.04"}, {36, E, ""}}},
      {"DigestValue",
       "target.digest==sha256:abc",
       {{0, F, "target"},
        {6, S, "."},
        {7, F, "digest"},
        {13, O, "=="},
        {15, V, "sha256:abc"},
        {25, E, ""}}},
      {"InvalidUtf8", "a\xff", {{0, F, "a"}, {1, I, "", "invalid UTF-8"}, {2, E, ""}}},
      {"OctalAndUnicodeEscapes",
       R"("\101\u00e9\U0001F600")",
       {{0, Q, R"("\101\u00e9\U0001F600")"}, {22, E, ""}}},
      {"UnterminatedAtEnd",
       "\"abc",
       {{0, I, "\"abc", "quoted literal not terminated"}, {4, E, ""}}},
      {"OtherRune", "a?b", {{0, F, "a"}, {1, TokenKind::kOther, ""}, {2, F, "b"}, {3, E, ""}}},
      {"Empty", "", {{0, E, ""}}},
  };
}

void RunCase(const Case& c) {
  SCOPED_TRACE(c.name);
  Scanner sc(c.input);
  for (std::size_t i = 0;; ++i) {
    ASSERT_LT(i, c.tokens.size()) << "too many tokens";
    const Token tok = sc.Scan();
    Expected got{tok.pos, tok.kind, std::string(tok.text),
                 tok.kind == TokenKind::kIllegal ? sc.error() : ""};
    const Expected& want = c.tokens[i];
    EXPECT_EQ(Describe(got), Describe(want)) << "token " << i;
    if (tok.kind == TokenKind::kEof) {
      EXPECT_EQ(i + 1, c.tokens.size()) << "too few tokens";
      break;
    }
  }
  // EOF is sticky.
  EXPECT_EQ(sc.Scan().kind, TokenKind::kEof);
}

TEST(Scanner, ContainerdTable) {
  for (const Case& c : ContainerdCases()) RunCase(c);
}

TEST(Scanner, MoreCases) {
  for (const Case& c : MoreCases()) RunCase(c);
}

TEST(Scanner, PeekDoesNotConsume) {
  Scanner sc("ab,c");
  Token t = sc.Scan();
  EXPECT_EQ(t.text, "ab");
  EXPECT_EQ(sc.Peek(), ',');
  EXPECT_EQ(sc.Peek(), ',');
  EXPECT_EQ(sc.offset(), 2u);
  EXPECT_EQ(sc.Scan().kind, TokenKind::kSeparator);
}

TEST(DecodeRune, StrictUtf8) {
  std::size_t w = 0;
  EXPECT_EQ(DecodeRune("\xe7\x89\x9b", &w), 0x725b);
  EXPECT_EQ(w, 3u);
  EXPECT_EQ(DecodeRune("\xf0\x9f\x98\x80", &w), 0x1f600);
  EXPECT_EQ(w, 4u);
  EXPECT_EQ(DecodeRune("", &w), kRuneEof);
  EXPECT_EQ(w, 0u);
  for (std::string bad : {"\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                          "\xe7\x89", "\xf8\x88\x80\x80\x80"}) {
    EXPECT_EQ(DecodeRune(bad, &w), kRuneIllegal) << bad.size();
    EXPECT_EQ(w, 1u);
  }
}

TEST(AppendRune, EncodesAndReplacesInvalid) {
  std::string s;
  AppendRune('A', &s);
  AppendRune(0xe9, &s);
  AppendRune(0x725b, &s);
  AppendRune(0x1f600, &s);
  EXPECT_EQ(s, "A\xc3\xa9\xe7\x89\x9b\xf0\x9f\x98\x80");
  s.clear();
  AppendRune(0xd800, &s);
  AppendRune(0x110000, &s);
  EXPECT_EQ(s, "\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace berth::filters::internal
