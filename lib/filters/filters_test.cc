#include "lib/filters/filters.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::filters {
namespace {

using StringMap = std::map<std::string, std::string>;

// containerd's filters/filter_test.go corpus and adaptor.
struct Entry {
  std::string name;
  std::string other;
  std::map<std::string, std::string> labels;
};

class EntryAdaptor : public Adaptor {
 public:
  explicit EntryAdaptor(const Entry& e) : e_(e) {}
  std::optional<std::string> Field(const std::vector<std::string>& path) const override {
    if (path[0] == "name") {
      if (e_.name.empty()) return std::nullopt;
      return e_.name;
    }
    if (path[0] == "other") {
      if (e_.other.empty()) return std::nullopt;
      return e_.other;
    }
    if (path[0] == "labels") {
      std::string key;
      for (std::size_t i = 1; i < path.size(); ++i) key += (i > 1 ? "." : "") + path[i];
      auto it = e_.labels.find(key);
      if (it == e_.labels.end()) return std::nullopt;
      return it->second;
    }
    return std::nullopt;
  }

 private:
  const Entry& e_;
};

const std::vector<Entry>& Corpus() {
  static const std::vector<Entry>* corpus = new std::vector<Entry>{
      {"foo", "", {{"foo", "true"}}},
      {"bar", "", {}},
      {"foo", "", {{"foo", "present"}, {"more complex label", "present"}}},
      {"bar", "", {{"bar", "true"}}},
      {"fooer", "", {{"more complex label with \\ and \"", "present"}}},
      {"fooer", "", {{"more complex label with \\ and \".post", "present"}}},
      {"baz", "too complex, yo", {}},
      {"bazo", "abc", {}},
      {"compound", "", {{"foo", "omg_asdf.asdf-qwer"}}},
  };
  return *corpus;
}

std::vector<int> Matches(const Filter& f) {
  std::vector<int> out;
  for (std::size_t i = 0; i < Corpus().size(); ++i) {
    if (f.Match(EntryAdaptor(Corpus()[i]))) out.push_back(static_cast<int>(i));
  }
  return out;
}

struct MatchCase {
  std::string name;
  std::string input;
  std::vector<int> expected;
};

TEST(Parse, ContainerdMatchTable) {
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<MatchCase> cases = {
      {"Empty", "", all},
      {"Present", "name", all},
      {"LabelPresent", "labels.foo", {0, 2, 8}},
      {"NameAndLabelPresent", "labels.foo,name", {0, 2, 8}},
      {"LabelValue", "labels.foo==true", {0}},
      {"LabelValuePunctuated", "labels.foo==omg_asdf.asdf-qwer", {8}},
      {"Name", "name==bar", {1, 3}},
      {"NameNotEqual", "name!=bar", {0, 2, 4, 5, 6, 7, 8}},
      {"NameAndLabelPresent2", "name==bar,labels.bar", {3}},
      {"QuotedValue", "other==\"too complex, yo\"", {6}},
      {"RegexpValue", "other~=[abc]+,name!=foo", {6, 7}},
      {"RegexpQuotedValue", "other~=/[abc]+/,name!=foo", {6, 7}},
      {"RegexpQuotedValueBraces", "other~=/[abc]{1,2}/,name!=foo", {6, 7}},
      {"RegexpQuotedValueGarbage", "other~=/[abc]{0,1}\"\\//,name!=foo", {}},
      {"NameAndLabelValue", "name==bar,labels.bar==true", {3}},
      {"NameAndLabelValueNoMatch", "name==bar,labels.bar==wrong", {}},
      {"LabelQuotedFieldPathPresent", R"(name==foo,labels."more complex label")", {2}},
      {"LabelQuotedFieldPathPresentWithQuoted",
       R"(labels."more complex label with \\ and \""==present)",
       {4}},
      {"LabelQuotedFieldPathPresentWithQuotedEmbed",
       R"(labels."more complex label with \\ and \"".post==present)",
       {5}},
  };
  for (const MatchCase& c : cases) {
    absl::StatusOr<Filter> f = Parse(c.input);
    ASSERT_TRUE(f.ok()) << c.name << ": " << f.status();
    EXPECT_EQ(Matches(*f), c.expected) << c.name << ": " << c.input;
  }
}

struct ErrorCase {
  std::string name;
  std::string input;
  std::string message;
};

TEST(Parse, ContainerdErrorTable) {
  // Same reasons and positions as containerd; berth names the position in words.
  const std::vector<ErrorCase> cases = {
      {"LabelValueNoAltQuoting", "labels.|foo|==omg_asdf.asdf-qwer",
       "filters: invalid quote encountered at position 7: "
       "[labels. >|||< foo|==omg_asdf.asdf-qwer]"},
      {"LabelQuotedFieldPathPresentWithQuotedEmbedInvalid",
       R"(labels.?"more complex label with \\ and \"".post==present)",
       R"(filters: expected field or quoted at position 7: )"
       R"([labels. >|?|< "more complex label with \\ and \"".post==present])"},
      {"TrailingComma", "name==foo,",
       "filters: expected field or quoted at position 10: [name==foo,]"},
      {"TrailingFieldSeparator", "labels.",
       "filters: expected field or quoted at position 7: [labels.]"},
      {"MissingValue", "image~=,id?=?fbaq",
       "filters: expected value or quoted at position 7: [image~= >|,|< id?=?fbaq]"},
      {"FieldQuotedLiteralNotTerminated", "labels.ns/key==value",
       "filters: quoted literal not terminated at position 9: [labels.ns >|/|< key==value]"},
      {"ValueQuotedLiteralNotTerminated", "labels.key==/value",
       "filters: quoted literal not terminated at position 12: [labels.key== >|/|< value]"},
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<Filter> f = Parse(c.input);
    ASSERT_FALSE(f.ok()) << c.name;
    EXPECT_TRUE(absl::IsInvalidArgument(f.status())) << c.name;
    EXPECT_EQ(f.status().message(), c.message) << c.name;
  }
}

TEST(Parse, MoreBadInput) {
  const std::vector<ErrorCase> cases = {
      {"TrailingSpace", "name==foo ",
       "filters: unexpected input at position 9: [name==foo >| |< ]"},
      {"SingleEquals", "name=foo",
       "filters: unsupported operator \"=\" at position 4: [name >|=|< foo]"},
      {"TripleEquals", "name===foo",
       "filters: unsupported operator \"===\" at position 4: [name >|=|< ==foo]"},
      {"NoOperator", "name foo",
       "filters: expected an operator (\"==\"|\"!=\"|\"~=\") at position 5: [name  >|f|< oo]"},
      {"ValueMissingAtEnd", "name==", "filters: expected value or quoted at position 6: [name==]"},
      {"OnlySpaces", "   ", "filters: expected field or quoted at position 3: [   ]"},
      {"LeadingComma", ",name", "filters: expected field or quoted at position 0: [ >|,|< name]"},
      {"DoubleComma", "a,,b", "filters: expected field or quoted at position 2: [a, >|,|< b]"},
      {"Null", std::string("name==a\0b", 9),
       "filters: unexpected null at position 7: [name==a >|\\x00|< b]"},
      {"NullInField", std::string("na\0me", 5),
       "filters: unexpected null at position 2: [na >|\\x00|< me]"},
      {"BadUtf8", "name==a\xff", "filters: invalid UTF-8 at position 7: [name==a >|\\xff|< ]"},
      {"IllegalEscape", R"(labels."\q"==x)",
       R"(filters: illegal escape sequence at position 7: [labels. >|"|< \q"==x])"},
      {"OctalTooBig", R"(labels."\777"==x)",
       R"(filters: unquoting failed: quote syntax error at position 7: [labels. >|"|< \777"==x])"},
      {"RuneTooBig", R"(labels."\U00110000"==x)",
       R"(filters: unquoting failed: quote syntax error at position 7: )"
       R"([labels. >|"|< \U00110000"==x])"},
      {"SlashQuotedEqualValue", "topic==/tasks/exit",
       "filters: invalid quote encountered at position 7: [topic== >|/|< tasks/exit]"},
      {"RegexSlashEscapeNotGo", R"(name~=/\d+/)",
       R"(filters: illegal escape sequence at position 6: [name~= >|/|< \d+/])"},
  };
  for (const ErrorCase& c : cases) {
    absl::StatusOr<Filter> f = Parse(c.input);
    ASSERT_FALSE(f.ok()) << c.name;
    EXPECT_TRUE(absl::IsInvalidArgument(f.status())) << c.name;
    EXPECT_EQ(f.status().message(), c.message) << c.name;
  }
}

TEST(Parse, BadRegularExpressions) {
  auto expect_refused = [](const std::string& input, const std::string& reason) {
    absl::StatusOr<Filter> f = Parse(input);
    ASSERT_FALSE(f.ok()) << input;
    EXPECT_TRUE(absl::IsInvalidArgument(f.status())) << input;
    EXPECT_NE(std::string(f.status().message()).find(reason), std::string::npos)
        << input << ": " << f.status();
  };
  expect_refused("name~=(a", "invalid regular expression");
  expect_refused("name~=[a", "invalid regular expression");
  expect_refused("name~=*a", "invalid regular expression");
  expect_refused("name~=(a))(b", "invalid regular expression");  // Cannot escape the wrapper.
  expect_refused("name~=(a)\\1", "invalid regular expression");  // No back-references.
  expect_refused("name~=" + std::string(kMaxRegexLength + 1, 'a'),
                 "regular expression too long (1025 bytes, at most 1024)");
  expect_refused("name~=(a{100}){100}", "regular expression too complex");
  expect_refused("name~=a{2048}", "regular expression too complex");
  EXPECT_TRUE(Parse("name~=a{2000}").ok());
  expect_refused("name~=((a{20}){20}){20}", "regular expression too complex");
  expect_refused("name~=/x{99999}/", "regular expression too complex");
  // Found by fuzz/filters_fuzzer: numbers that libstdc++ reads as integers overflowed inside
  // std::regex (undefined behaviour) when the brace was malformed or it was a back-reference;
  // they are refused before std::regex sees them.
  expect_refused("name~=\"a{14444444444444444444444444,2A}\"", "regular expression too complex");
  expect_refused("name~=a\\14444444444444444444444444", "regular expression too complex");
  expect_refused("name~=\"a{1,14444444444444444444444444}\"", "regular expression too complex");
  EXPECT_TRUE(Parse("name~=12345678901234567890").ok());  // Literal digits are fine.
  // The position is the value's.
  expect_refused("name~=(a", "at position 6");
  // Within limits.
  EXPECT_TRUE(Parse("name~=" + std::string(kMaxRegexLength, 'a')).ok());
  EXPECT_TRUE(Parse("name~=^[a-f0-9]{64}$").ok());
  EXPECT_TRUE(Parse("name~=/(ab|cd){1,100}/").ok());
  // Unquoted, the comma ends the value, as in containerd.
  expect_refused("name~=(ab|cd){1,100}", "invalid regular expression");
}

TEST(Parse, LongInputIsCutInTheMessage) {
  std::string input = "name==" + std::string(10000, 'x') + " trailing";
  absl::StatusOr<Filter> f = Parse(input);
  ASSERT_FALSE(f.ok());
  EXPECT_LT(f.status().message().size(), 300u);
  EXPECT_NE(std::string(f.status().message()).find("unexpected input at position 10006"),
            std::string::npos)
      << f.status();
  input = "name==" + std::string(10000, 'x') + ",";
  f = Parse(input);
  ASSERT_FALSE(f.ok());
  EXPECT_LT(f.status().message().size(), 300u);
}

Filter MustParse(const std::string& s) {
  absl::StatusOr<Filter> f = Parse(s);
  EXPECT_TRUE(f.ok()) << s << ": " << f.status();
  return f.ok() ? *f : Filter();
}

TEST(Match, ValuesWithReferenceCharacters) {
  MapAdaptor image({{"name", "docker.io/library/ubuntu:22.04"},
                    {"target.digest", "sha256:abc"},
                    {"topic", "/tasks/exit"}});
  EXPECT_TRUE(MustParse("name==docker.io/library/ubuntu:22.04").Match(image));
  EXPECT_FALSE(MustParse("name==docker.io/library/ubuntu:20.04").Match(image));
  EXPECT_TRUE(MustParse("target.digest==sha256:abc").Match(image));
  EXPECT_TRUE(MustParse("topic==\"/tasks/exit\"").Match(image));
  EXPECT_TRUE(MustParse("topic~=|^/tasks/|").Match(image));
  EXPECT_TRUE(MustParse("topic~=\"^/tasks/\"").Match(image));
  EXPECT_TRUE(MustParse("name~=ubuntu:2[0-9]").Match(image));
  EXPECT_TRUE(MustParse("name == docker.io/library/ubuntu:22.04").Match(image));
}

TEST(Match, MissingFieldsFollowContainerd) {
  MapAdaptor obj({{"name", "a"}}, {{"x", "1"}});
  EXPECT_TRUE(MustParse("labels.x").Match(obj));
  EXPECT_FALSE(MustParse("labels.y").Match(obj));
  EXPECT_FALSE(MustParse("labels.y==\"\"").Match(obj));  // == needs the field.
  EXPECT_TRUE(MustParse("labels.y!=1").Match(obj));      // != sees "" for a missing field.
  EXPECT_FALSE(MustParse("labels.y!=\"\"").Match(obj));
  EXPECT_TRUE(MustParse("labels.y~=^$").Match(obj));  // ~= sees "" too.
  EXPECT_FALSE(MustParse("labels").Match(obj));       // A map alone is no field.
  EXPECT_FALSE(MustParse("unknown==a").Match(obj));
}

TEST(Match, QuotedFieldsAndValues) {
  MapAdaptor obj({{"name", "x"}}, {{"io.example/key", "v,1"}, {"tab\tkey", "\xe7\x89\x9b"}});
  EXPECT_TRUE(MustParse("labels.\"io.example/key\"==\"v,1\"").Match(obj));
  EXPECT_TRUE(MustParse(R"(labels."tab\tkey"=="\u725b")").Match(obj));
  EXPECT_TRUE(MustParse(R"(labels."tab\x09key"==牛)").Match(obj));
  EXPECT_TRUE(MustParse(R"(labels."tab\011key")").Match(obj));
}

TEST(Match, Regexes) {
  MapAdaptor obj(StringMap{{"id", "abc123"}, {"name", "Hello"}});
  EXPECT_TRUE(MustParse(R"(id~=\d+)").Match(obj));  // Unquoted: backslashes are literal.
  EXPECT_TRUE(MustParse("id~=^abc").Match(obj));
  EXPECT_FALSE(MustParse("id~=^bc").Match(obj));
  EXPECT_TRUE(MustParse("id~=bc").Match(obj));  // A search, not a full match.
  EXPECT_FALSE(MustParse("name~=hello").Match(obj));
  EXPECT_TRUE(MustParse("name~=o$").Match(obj));
  EXPECT_FALSE(MustParse("name~=^ello").Match(obj));  // ^ is the start of the value only.
  EXPECT_TRUE(MustParse("name~=/l{2}/").Match(obj));
  EXPECT_TRUE(MustParse("name~=/^$|Hel/").Match(obj));  // Alternation stays inside.
  EXPECT_FALSE(MustParse("name~=/^$|xyz/").Match(obj));
  EXPECT_TRUE(MustParse("name~=/^$|xyz/").Match(MapAdaptor(StringMap{{"name", ""}})));
  EXPECT_TRUE(MustParse("name~=[Hh]ello").Match(obj));
}

TEST(Match, RegexLimitsOnTheSubject) {
  std::string longest(kMaxRegexSubject, 'a');
  std::string too_long(kMaxRegexSubject + 1, 'a');
  Filter f = MustParse("v~=a");
  EXPECT_TRUE(f.Match(MapAdaptor({{"v", longest}})));
  EXPECT_FALSE(f.Match(MapAdaptor({{"v", too_long}})));
  // Other operators are not limited.
  EXPECT_TRUE(MustParse("v!=b").Match(MapAdaptor({{"v", too_long}})));
  // Patterns that backtrack exponentially elsewhere finish here (polynomial engine), and
  // long subjects do not exhaust the stack.
  EXPECT_FALSE(MustParse("v~=^(a*)*b$").Match(MapAdaptor({{"v", longest}})));
  EXPECT_FALSE(MustParse("v~=(a|aa)+b").Match(MapAdaptor({{"v", longest}})));
  EXPECT_TRUE(MustParse("v~=^(a|b)*$").Match(MapAdaptor({{"v", longest}})));
  EXPECT_FALSE(MustParse("v~=/.*x/").Match(MapAdaptor({{"v", longest}})));
  EXPECT_TRUE(MustParse("v~=/a{1000}$/").Match(MapAdaptor({{"v", longest}})));
}

TEST(ParseAll, OrsFilterStrings) {
  absl::StatusOr<Filter> f = ParseAll({"name==foo", "name==bazo"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(Matches(*f), (std::vector<int>{0, 2, 7}));
  EXPECT_FALSE(f->MatchesEverything());
  EXPECT_EQ(f->clauses().size(), 2u);
}

TEST(ParseAll, EmptyListOrEmptyStringMatchesEverything) {
  absl::StatusOr<Filter> none = ParseAll({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->MatchesEverything());
  EXPECT_EQ(Matches(*none).size(), Corpus().size());

  absl::StatusOr<Filter> with_empty = ParseAll({"name==nothing", ""});
  ASSERT_TRUE(with_empty.ok());
  EXPECT_TRUE(with_empty->MatchesEverything());
  EXPECT_EQ(Matches(*with_empty).size(), Corpus().size());

  EXPECT_TRUE(Filter().MatchesEverything());
  EXPECT_TRUE(MustParse("").MatchesEverything());
  EXPECT_FALSE(MustParse("name").MatchesEverything());
}

TEST(ParseAll, FirstErrorWins) {
  absl::StatusOr<Filter> f = ParseAll({"name==foo", "name==foo,", "bad bad"});
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(f.status()));
  EXPECT_EQ(f.status().message(), "filters: expected field or quoted at position 10: [name==foo,]");
}

TEST(Filter, ExposesSelectors) {
  Filter f = MustParse(R"(labels."a.b"==c,name~=x,id!=y,topic)");
  ASSERT_EQ(f.clauses().size(), 1u);
  const std::vector<Selector>& s = f.clauses()[0];
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].fieldpath, (std::vector<std::string>{"labels", "a.b"}));
  EXPECT_EQ(s[0].op, Operator::kEqual);
  EXPECT_EQ(s[0].value, "c");
  EXPECT_EQ(s[0].regex, nullptr);
  EXPECT_EQ(s[1].op, Operator::kMatches);
  EXPECT_NE(s[1].regex, nullptr);
  EXPECT_EQ(s[2].op, Operator::kNotEqual);
  EXPECT_EQ(s[3].op, Operator::kPresent);
  EXPECT_EQ(s[3].fieldpath, (std::vector<std::string>{"topic"}));
}

TEST(Adaptors, MapAndFunc) {
  MapAdaptor m({{"event.container_id", "c1"}, {"namespace", "default"}}, {{"a.b", "1"}});
  EXPECT_EQ(m.Field({"event", "container_id"}), "c1");
  EXPECT_EQ(m.Field({"labels", "a", "b"}), "1");
  EXPECT_EQ(m.Field({"labels", "a.b"}), "1");
  EXPECT_EQ(m.Field({"labels"}), std::nullopt);
  EXPECT_EQ(m.Field({"nope"}), std::nullopt);
  EXPECT_TRUE(MustParse("event.container_id==c1,namespace==default").Match(m));

  int calls = 0;
  FuncAdaptor fn([&](const std::vector<std::string>& path) -> std::optional<std::string> {
    ++calls;
    if (path == std::vector<std::string>{"id"}) return "x";
    return std::nullopt;
  });
  EXPECT_TRUE(MustParse("id==x").Match(fn));
  EXPECT_FALSE(MustParse("id==x,other").Match(fn));
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace berth::filters
