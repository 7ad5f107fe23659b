#include "lib/filters/scanner.h"

namespace berth::filters::internal {
namespace {

bool IsAlphaRune(std::int32_t r) { return (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z'); }
bool IsDigitRune(std::int32_t r) { return r >= '0' && r <= '9'; }
bool IsFieldRune(std::int32_t r) {
  return r == '-' || r == '_' || IsAlphaRune(r) || IsDigitRune(r);
}
bool IsOperatorRune(std::int32_t r) { return r == '=' || r == '!' || r == '~'; }
bool IsQuoteRune(std::int32_t r) { return r == '/' || r == '|' || r == '"'; }
bool IsSeparatorRune(std::int32_t r) { return r == ',' || r == '.'; }

int DigitVal(std::int32_t ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return 16;  // Larger than any legal digit value.
}

// Go's unicode.IsGraphic || IsPunct, approximated: everything but control characters, the
// common format characters (Cf), private use areas and the two noncharacters U+FFFE/U+FFFF.
bool IsGraphicRune(std::int32_t r) {
  if (r < 0x20 || (r >= 0x7f && r <= 0x9f)) return false;
  if (r == 0xad || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) ||
      (r >= 0x2060 && r <= 0x206f) || r == 0xfeff || (r >= 0xfff9 && r <= 0xfffb)) {
    return false;
  }
  if ((r >= 0xe000 && r <= 0xf8ff) || r >= 0xf0000) return false;
  if (r == 0xfffe || r == 0xffff) return false;
  return true;
}

}  // namespace

const char* TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEof:
      return "EOF";
    case TokenKind::kQuoted:
      return "Quoted";
    case TokenKind::kValue:
      return "Value";
    case TokenKind::kField:
      return "Field";
    case TokenKind::kSeparator:
      return "Separator";
    case TokenKind::kOperator:
      return "Operator";
    case TokenKind::kIllegal:
      return "Illegal";
    case TokenKind::kOther:
      return "Other";
  }
  return "?";
}

// Go's unicode.IsSpace.
bool IsSpaceRune(std::int32_t r) {
  switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200a;
  }
}

bool IsValueRune(std::int32_t r) { return r != ',' && !IsSpaceRune(r) && IsGraphicRune(r); }

std::int32_t DecodeRune(std::string_view s, std::size_t* width) {
  if (s.empty()) {
    *width = 0;
    return kRuneEof;
  }
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = b(0);
  *width = 1;
  if (b0 < 0x80) return b0;
  std::size_t n;
  std::int32_t r;
  unsigned char lo = 0x80, hi = 0xbf;  // Range of the second byte.
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    r = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    r = b0 & 0x0f;
    if (b0 == 0xe0) lo = 0xa0;  // Overlong.
    if (b0 == 0xed) hi = 0x9f;  // Surrogates.
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    r = b0 & 0x07;
    if (b0 == 0xf0) lo = 0x90;  // Overlong.
    if (b0 == 0xf4) hi = 0x8f;  // Past U+10FFFF.
  } else {
    return kRuneIllegal;
  }
  if (s.size() < n) return kRuneIllegal;
  for (std::size_t i = 1; i < n; ++i) {
    const unsigned char c = b(i);
    if (i == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf)) return kRuneIllegal;
    r = (r << 6) | (c & 0x3f);
  }
  *width = n;
  return r;
}

void AppendRune(std::int32_t r, std::string* out) {
  if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) r = 0xfffd;
  if (r < 0x80) {
    *out += static_cast<char>(r);
  } else if (r < 0x800) {
    *out += static_cast<char>(0xc0 | (r >> 6));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  } else if (r < 0x10000) {
    *out += static_cast<char>(0xe0 | (r >> 12));
    *out += static_cast<char>(0x80 | ((r >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  } else {
    *out += static_cast<char>(0xf0 | (r >> 18));
    *out += static_cast<char>(0x80 | ((r >> 12) & 0x3f));
    *out += static_cast<char>(0x80 | ((r >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  }
}

void Scanner::Error(const char* msg) {
  if (err_.empty()) err_ = msg;  // The first error of a token is the one to report.
}

std::int32_t Scanner::Next() {
  pos_ = ppos_;
  if (ppos_ >= input_.size()) return kRuneEof;
  std::size_t width = 0;
  const std::int32_t r = DecodeRune(input_.substr(ppos_), &width);
  ppos_ += width;
  if (r == kRuneIllegal) {
    Error("invalid UTF-8");
    return kRuneIllegal;
  }
  if (r == 0) {
    Error("unexpected null");
    return kRuneIllegal;
  }
  return r;
}

std::int32_t Scanner::Peek() {
  const std::size_t pos = pos_;
  const std::size_t ppos = ppos_;
  std::string err = err_;
  err_.clear();
  const std::int32_t ch = Next();
  pos_ = pos;
  ppos_ = ppos;
  if (ch != kRuneIllegal) err_ = std::move(err);  // Keep the reason for an illegal peek.
  return ch;
}

Token Scanner::Scan() {
  err_.clear();
  std::int32_t ch = Next();
  std::size_t pos = pos_;
  for (;;) {
    if (ch == kRuneEof) return {TokenKind::kEof, pos_, {}};
    if (ch == kRuneIllegal) return {TokenKind::kIllegal, pos_, {}};
    if (IsQuoteRune(ch)) {
      const bool legal = ScanQuoted(ch);
      return {legal ? TokenKind::kQuoted : TokenKind::kIllegal, pos,
              input_.substr(pos, ppos_ - pos)};
    }
    if (IsSeparatorRune(ch)) {
      value_ = false;
      return {TokenKind::kSeparator, pos, input_.substr(pos, ppos_ - pos)};
    }
    if (IsOperatorRune(ch)) {
      ScanOperator();
      value_ = true;
      return {TokenKind::kOperator, pos, input_.substr(pos, ppos_ - pos)};
    }
    if (IsSpaceRune(ch)) {
      ch = Next();
      pos = pos_;
      continue;
    }
    if (value_) {
      ScanValue();
      value_ = false;
      return {TokenKind::kValue, pos, input_.substr(pos, ppos_ - pos)};
    }
    if (IsFieldRune(ch)) {
      ScanField();
      return {TokenKind::kField, pos, input_.substr(pos, ppos_ - pos)};
    }
    return {TokenKind::kOther, pos_, {}};
  }
}

void Scanner::ScanField() {
  while (IsFieldRune(Peek())) Next();
}

void Scanner::ScanOperator() {
  while (IsOperatorRune(Peek())) Next();
}

void Scanner::ScanValue() {
  for (;;) {
    const std::int32_t ch = Peek();
    if (ch < 0 || !IsValueRune(ch)) return;
    Next();
  }
}

bool Scanner::ScanQuoted(std::int32_t quote) {
  bool legal = true;
  std::int32_t ch = Next();  // The rune after the opening quote.
  while (ch != quote) {
    if (ch == '\n' || ch < 0) {
      Error("quoted literal not terminated");
      return false;
    }
    if (ch == '\\') {
      bool escape_legal = true;
      ch = ScanEscape(quote, &escape_legal);
      if (!escape_legal) legal = false;
    } else {
      ch = Next();
    }
  }
  return legal;
}

std::int32_t Scanner::ScanEscape(std::int32_t quote, bool* legal) {
  std::int32_t ch = Next();  // The rune after the backslash.
  switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
      *legal = true;
      return Next();
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
      return ScanDigits(ch, 8, 3, legal);
    case 'x':
      return ScanDigits(Next(), 16, 2, legal);
    case 'u':
      return ScanDigits(Next(), 16, 4, legal);
    case 'U':
      return ScanDigits(Next(), 16, 8, legal);
    default:
      if (ch == quote) {
        *legal = true;
        return Next();
      }
      Error("illegal escape sequence");
      *legal = false;
      return ch;
  }
}

std::int32_t Scanner::ScanDigits(std::int32_t ch, int base, int n, bool* legal) {
  while (n > 0 && DigitVal(ch) < base) {
    ch = Next();
    --n;
  }
  if (n > 0) {
    Error("illegal numeric escape sequence");
    *legal = false;
    return ch;
  }
  *legal = true;
  return ch;
}

}  // namespace berth::filters::internal
