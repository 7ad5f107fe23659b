// The tokenizer of containerd's filter language, exposed for filters.cc and its tests only.
//
// It follows containerd's filters/scanner.go token for token (same token kinds, byte
// positions and error texts) so the parser accepts and refuses what containerd does:
//   - `"`, `/` and `|` open a quoted literal (Go escapes: \a \b \f \n \r \t \v \\ \<quote>,
//     \ooo, \xhh, \uhhhh, \Uhhhhhhhh); a newline or the end of input inside one is illegal;
//   - `,` and `.` are separators; runs of `=`, `!`, `~` are operators;
//   - white space between tokens is skipped;
//   - after an operator, the next unquoted token is a value: every graphic rune except `,`
//     and white space (so `docker.io/library/x:1` is one value);
//   - otherwise `[A-Za-z0-9_-]+` is a field;
//   - NUL and invalid UTF-8 are illegal.
//
// Thread-safety: a Scanner is used by one thread at a time.
#ifndef BERTH_LIB_FILTERS_SCANNER_H_
#define BERTH_LIB_FILTERS_SCANNER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::filters::internal {

enum class TokenKind {
  kEof,
  kQuoted,     // A whole quoted literal, quotes included, still escaped.
  kValue,      // An unquoted value (only right after an operator).
  kField,      // [A-Za-z0-9_-]+
  kSeparator,  // `,` or `.`
  kOperator,   // A run of `=`, `!`, `~` (the parser decides which runs are valid).
  kIllegal,    // Scanner::error() says why.
  kOther,      // Any other single rune; text is empty, as in containerd.
};

// The name containerd gives a token kind ("Field", "Quoted", ...), for test output.
const char* TokenKindName(TokenKind kind);

struct Token {
  TokenKind kind;
  std::size_t pos;        // Byte offset of the token in the input.
  std::string_view text;  // The token's bytes (empty for kEof and kOther).
};

// Pseudo-runes Next()/Peek() return besides Unicode code points.
inline constexpr std::int32_t kRuneEof = -1;
inline constexpr std::int32_t kRuneIllegal = -2;

class Scanner {
 public:
  // `input` must outlive the scanner and the tokens it returns.
  explicit Scanner(std::string_view input) : input_(input) {}

  // Returns the next token, skipping white space before it.
  Token Scan();

  // The next rune without consuming it (no white space skipping): a code point, kRuneEof or
  // kRuneIllegal.
  std::int32_t Peek();

  // Byte offset just after the last consumed rune.
  std::size_t offset() const { return ppos_; }

  // Why the last kIllegal token (or illegal peeked rune) is illegal.
  const std::string& error() const { return err_; }

 private:
  std::int32_t Next();
  void Error(const char* msg);
  void ScanField();
  void ScanOperator();
  void ScanValue();
  bool ScanQuoted(std::int32_t quote);
  std::int32_t ScanEscape(std::int32_t quote, bool* legal);
  std::int32_t ScanDigits(std::int32_t ch, int base, int n, bool* legal);

  std::string_view input_;
  std::size_t pos_ = 0;   // Start of the current rune.
  std::size_t ppos_ = 0;  // End of the current rune.
  bool value_ = false;    // The next unquoted token is a value.
  std::string err_;
};

// Rune classes shared with the parser's messages.
bool IsSpaceRune(std::int32_t r);
bool IsValueRune(std::int32_t r);

// Decodes one UTF-8 sequence at the start of `s`. Returns the code point and sets *width, or
// returns kRuneIllegal with *width = 1 for an invalid or truncated sequence (overlong forms
// and surrogates included), kRuneEof with *width = 0 for empty input.
std::int32_t DecodeRune(std::string_view s, std::size_t* width);

// Appends the UTF-8 encoding of `r` (U+FFFD for surrogates and values past U+10FFFF).
void AppendRune(std::int32_t r, std::string* out);

}  // namespace berth::filters::internal

#endif  // BERTH_LIB_FILTERS_SCANNER_H_
